// chaos_driver: the Jepsen-style chaos run of issue 5, run inside the sandbox
// (tests/chaos/chaos.sh brings the sandbox up and runs this with
// sandbox.sh exec).
//
// N client threads, each with its own system-bus connection and its own
// std::mt19937 seeded from (seed, client), issue random Create, Start, Stop,
// Restart, Reload, Update and Destroy calls on a small set of names. A kill
// thread SIGKILLs nixos-containers.service at seeded random moments, waits
// until it is back (restarting it by hand if Restart= did not), pauses the
// clients, lets the service settle and runs the invariant checker
// (invariants.py). Then a storm (issue 25 item 10): 20 containers, 20
// concurrent Starts, the service killed a seeded 200-1000 ms in, then the
// checker, whose invariant 4 fails a container left "starting" while its unit
// is active; the storm's containers are destroyed. At the end the same again.
//
// Same seed => same sequence of operations per client and the same kill
// schedule (seconds after the start). Timing, and so the interleaving and how
// far each client gets, differ from run to run.
//
// Output: "PASS: ..." / "FAIL: ..." lines for each check, the history
// (one line per call) and a last line "chaos-driver: N passed, M failed".
#include <sdbus-c++/sdbus-c++.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
const char* const kBus = "org.nixos.Containers";
const char* const kPath = "/org/nixos/Containers";
const char* const kIface = "org.nixos.Containers";
const char* const kUnit = "nixos-containers.service";

struct Options {
    unsigned seconds = 120;
    std::uint64_t seed = 1;
    unsigned clients = 8;
    unsigned callTimeout = 60;           // seconds
    unsigned killMin = 6, killMax = 16;  // seconds between kills
    std::string systemA, systemB;
    std::string checker;  // command run after every restart and at the end
    std::string historyFile;
    // Harness self-check (chaos.sh): calls recorded as answered with these
    // errors, for invariant 5 to judge.
    std::vector<std::string> injectedOutcomes;
};

// One container name of the run: long ones (40 characters: veth host names
// are hashed) and private-network ones.
struct Target {
    std::string name;
    bool privateNetwork;
};
const std::vector<Target> kTargets = {
    {"cx-a", false},
    {"cx-b", false},
    {"cx-net-a", true},
    {"cx-net-b", true},
    {"chaos-long-name-plain-0123456789abcdefgh", false},  // 40
    {"chaos-long-name-netw-0123456789abcdefghi", true},   // 40
};

Clock::time_point gT0;
double since0(Clock::time_point t = Clock::now()) {
    return std::chrono::duration<double>(t - gT0).count();
}
std::string wallClock() {
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    char buf[64];
    std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
    char out[80];
    std::snprintf(out, sizeof out, "%s.%03lld", buf, static_cast<long long>(ms));
    return out;
}

std::mutex gOut;
void say(const std::string& line) {
    std::lock_guard<std::mutex> lock(gOut);
    std::cout << line << std::endl;
}

// ---------------------------------------------------------------- history
struct CallRecord {
    unsigned client = 0;
    unsigned seq = 0;
    double t0 = 0, t1 = 0;
    std::string wall0;
    std::string op, name, args;
    std::string outcome;  // "ok" or the error name
    std::string message;
    bool checked = false;  // counted by an invariant-5 check already
};
struct KillRecord {
    unsigned index = 0;
    // Before and after systemctl kill; the bus no longer routing to the old
    // process; a new instance answering.
    double tKill = 0, tKillDone = 0, tGone = 0, tBack = 0;
    std::string wall;
    std::string oldPid, newPid;
    bool manualStart = false;
};

std::mutex gHist;
std::vector<CallRecord> gCalls;
std::vector<KillRecord> gKills;

std::string formatCall(const CallRecord& c) {
    char head[160];
    std::snprintf(head, sizeof head, "[c%u #%u] %8.3f-%8.3f (%s) ", c.client, c.seq, c.t0, c.t1,
                  c.wall0.c_str());
    std::string line = head + c.op + " " + c.name;
    if (!c.args.empty())
        line += " " + c.args;
    line += " => " + c.outcome;
    if (!c.message.empty())
        line += ": " + c.message;
    return line;
}

// ---------------------------------------------------------------- shell
std::string capture(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
    pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
        out.pop_back();
    return out;
}
std::string mainPid() {
    return capture(std::string("systemctl show -P MainPID ") + kUnit + " 2>/dev/null");
}

// ---------------------------------------------------------------- checks
std::atomic<unsigned> gPassed{0}, gFailed{0};
void pass(const std::string& what) {
    ++gPassed;
    say("PASS: " + what);
}
void fail(const std::string& what) {
    ++gFailed;
    say("FAIL: " + what);
}

// ---------------------------------------------------------------- pause
std::mutex gPauseMutex;
std::condition_variable gPauseCv;
bool gPause = false;
unsigned gParked = 0;
std::atomic<bool> gStop{false};
std::atomic<unsigned> gInFlight{0};

// ---------------------------------------------------------------- clients
bool isKillRelated(const std::string& error) {
    return error == "org.freedesktop.DBus.Error.NoReply" || error == "org.freedesktop.DBus.Error.Timeout" ||
           error == "org.freedesktop.DBus.Error.TimedOut";
}
// The bus's answers while no instance of the service owns the name.
bool isServiceDown(const std::string& error) {
    return error == "org.freedesktop.DBus.Error.ServiceUnknown" ||
           error == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
           error.rfind("org.freedesktop.DBus.Error.Spawn.", 0) == 0;
}
// The error catalogue of interfaces/org.nixos.Containers.xml: a reply with
// any other error (org.freedesktop.DBus.Error.Failed, NoMemory, ...) is not
// a named answer.
bool isNamed(const std::string& error) {
    static const std::vector<std::string> kCatalogue = {
        "org.nixos.Containers.Error.NoSuchContainer",
        "org.nixos.Containers.Error.AlreadyExists",
        "org.nixos.Containers.Error.InvalidArgument",
        "org.nixos.Containers.Error.Busy",
        "org.nixos.Containers.Error.Declarative",
        "org.nixos.Containers.Error.BuildFailed",
        "org.nixos.Containers.Error.StartFailed",
        "org.nixos.Containers.Error.StopFailed",
        "org.nixos.Containers.Error.ReloadFailed",
        "org.nixos.Containers.Error.NotRunning",
        "org.nixos.Containers.Error.NetworkSetupFailed",
        "org.nixos.Containers.Error.LimitsExceeded",
        "org.nixos.Containers.Error.IOError",
        "org.freedesktop.DBus.Error.AccessDenied",
        "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
    };
    return std::find(kCatalogue.begin(), kCatalogue.end(), error) != kCatalogue.end();
}

class Client {
public:
    Client(unsigned id, const Options& opt) : id_(id), opt_(opt) {
        std::seed_seq seq{static_cast<std::uint32_t>(opt.seed), static_cast<std::uint32_t>(opt.seed >> 32),
                          id};
        rng_.seed(seq);
    }

    void run() {
        try {
            connection_ = sdbus::createSystemBusConnection();
            proxy_ = sdbus::createProxy(*connection_, kBus, kPath);
        } catch (const sdbus::Error& e) {
            fail("client " + std::to_string(id_) + " cannot connect: " + e.getName() + ": " + e.getMessage());
            return;
        }
        while (!gStop) {
            {
                std::unique_lock<std::mutex> lock(gPauseMutex);
                if (gPause) {
                    ++gParked;
                    gPauseCv.notify_all();
                    gPauseCv.wait(lock, [] { return !gPause || gStop; });
                    --gParked;
                }
            }
            if (gStop)
                break;
            step();
        }
    }

private:
    // Every random choice comes from rng_, in a fixed order per step: same
    // seed, same sequence of calls for this client.
    void step() {
        static const std::vector<std::pair<std::string, int>> kOps = {
            {"Create", 20}, {"Start", 22},  {"Stop", 14},   {"Restart", 10},
            {"Reload", 8},  {"Update", 12}, {"Destroy", 9},
        };
        int total = 0;
        for (const auto& op : kOps)
            total += op.second;
        int pick = std::uniform_int_distribution<int>(0, total - 1)(rng_);
        std::string op;
        for (const auto& [name, weight] : kOps) {
            if (pick < weight) {
                op = name;
                break;
            }
            pick -= weight;
        }
        const Target& target = kTargets[std::uniform_int_distribution<size_t>(0, kTargets.size() - 1)(rng_)];
        unsigned variant = std::uniform_int_distribution<unsigned>(0, 5)(rng_);
        unsigned thinkMs = std::uniform_int_distribution<unsigned>(0, 400)(rng_);

        CallRecord rec;
        rec.client = id_;
        rec.seq = seq_++;
        rec.op = op;
        rec.name = target.name;
        auto call = proxy_->createMethodCall(kIface, op);
        call << target.name;
        if (op == "Create") {
            std::map<std::string, sdbus::Variant> spec;
            std::string sys = (variant & 1) ? opt_.systemB : opt_.systemA;
            spec["SystemPath"] = sdbus::Variant(sys);
            spec["TimeoutStartSec"] = sdbus::Variant(std::string("30s"));
            rec.args = "SystemPath=" + std::string((variant & 1) ? "B" : "A");
            if (target.privateNetwork) {
                spec["PrivateNetwork"] = sdbus::Variant(true);
                rec.args += " PrivateNetwork=true";
            }
            if (variant >= 4) {
                spec["AutoStart"] = sdbus::Variant(true);
                rec.args += " AutoStart=true";
            }
            call << spec;
        } else if (op == "Update") {
            std::map<std::string, sdbus::Variant> changes;
            switch (variant % 3) {
                case 0:  // the system only: a reload when running
                    changes["SystemPath"] = sdbus::Variant((variant & 1) ? opt_.systemB : opt_.systemA);
                    rec.args = std::string("SystemPath=") + ((variant & 1) ? "B" : "A");
                    break;
                case 1:  // the unit reads it: a restart when running
                    changes["TimeoutStartSec"] = sdbus::Variant(std::string((variant & 1) ? "31s" : "30s"));
                    rec.args = std::string("TimeoutStartSec=") + ((variant & 1) ? "31s" : "30s");
                    break;
                default:
                    changes["AutoStart"] = sdbus::Variant(variant >= 3);
                    rec.args = std::string("AutoStart=") + (variant >= 3 ? "true" : "false");
                    break;
            }
            call << changes;
        }

        auto t0 = Clock::now();
        rec.t0 = since0(t0);
        rec.wall0 = wallClock();
        ++gInFlight;
        try {
            proxy_->callMethod(call, static_cast<uint64_t>(opt_.callTimeout) * 1000000ULL);
            rec.outcome = "ok";
        } catch (const sdbus::Error& e) {
            rec.outcome = e.getName().empty() ? "(unnamed)" : e.getName();
            rec.message = e.getMessage();
        } catch (const std::exception& e) {
            rec.outcome = "(exception)";
            rec.message = e.what();
        }
        rec.t1 = since0();
        --gInFlight;
        {
            std::lock_guard<std::mutex> lock(gHist);
            gCalls.push_back(rec);
        }
        if (std::getenv("CHAOS_VERBOSE"))
            say("op " + formatCall(rec));
        std::this_thread::sleep_for(std::chrono::milliseconds(thinkMs));
    }

    unsigned id_;
    const Options& opt_;
    std::mt19937 rng_;
    unsigned seq_ = 0;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<sdbus::IProxy> proxy_;
};

// ---------------------------------------------------------------- service
bool serviceAnswers() {
    // A fresh connection each time: a plain List through the bus.
    try {
        auto conn = sdbus::createSystemBusConnection();
        auto proxy = sdbus::createProxy(*conn, kBus, kPath);
        auto call = proxy->createMethodCall(kIface, "List");
        proxy->callMethod(call, 3000000ULL);
        return true;
    } catch (const sdbus::Error&) {
        return false;
    }
}

// True once PID has exited (gone, or a zombie: its sockets are closed).
bool processGone(const std::string& pid) {
    std::ifstream stat("/proc/" + pid + "/stat");
    std::string line;
    if (!stat || !std::getline(stat, line)) {
        return true;
    }
    // "PID (COMM) STATE ...": COMM may hold spaces and parentheses.
    auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() || line[close + 2] == 'Z' ||
           line[close + 2] == 'X';
}

// True while the bus daemon still gives the service's name to PID (it has
// not yet seen that process's connection close).
bool nameStillOwnedBy(sdbus::IProxy& busDaemon, const std::string& pid) {
    try {
        std::uint32_t owner = 0;
        busDaemon.callMethod("GetConnectionUnixProcessID")
            .onInterface("org.freedesktop.DBus")
            .withArguments(std::string(kBus))
            .storeResultsTo(owner);
        return std::to_string(owner) == pid;
    } catch (const sdbus::Error&) {
        return false;  // no owner
    }
}

// Kill the service, wait until a new instance answers. Returns false when
// it never came back.
bool killAndRestart(unsigned index) {
    KillRecord k;
    k.index = index;
    k.oldPid = mainPid();
    k.wall = wallClock();
    k.tKill = since0();
    {
        std::lock_guard<std::mutex> lock(gHist);
        gKills.push_back(k);  // tKill visible at once for classification
    }
    int rc = std::system((std::string("systemctl kill -s KILL ") + kUnit).c_str());
    k.tKillDone = since0();  // the signal landed somewhere in [tKill, tKillDone]
    {
        std::lock_guard<std::mutex> lock(gHist);
        gKills.back().tKillDone = k.tKillDone;
    }
    // The signal is sent when systemctl returns, but the process still owns
    // the name (and takes calls it will never answer) until it is dead.
    auto goneDeadline = Clock::now() + std::chrono::seconds(5);
    while (!k.oldPid.empty() && k.oldPid != "0" && !processGone(k.oldPid) && Clock::now() < goneDeadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    try {
        auto connection = sdbus::createSystemBusConnection();
        auto busDaemon = sdbus::createProxy(*connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
        while (nameStillOwnedBy(*busDaemon, k.oldPid) && Clock::now() < goneDeadline) {
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
    } catch (const sdbus::Error& error) {
        say("kill #" + std::to_string(index) +
            ": cannot ask the bus who owns the name: " + error.getMessage());
    }
    k.tGone = since0();
    {
        std::lock_guard<std::mutex> lock(gHist);
        gKills.back().tGone = k.tGone;
    }
    say("kill #" + std::to_string(index) + " at " + std::to_string(k.tKill) + " (" + k.wall + "), pid " +
        k.oldPid + " dead after " + std::to_string(k.tGone - k.tKill) + " s" +
        (rc == 0 ? "" : " (systemctl kill exit " + std::to_string(rc) + ")"));
    auto deadline = Clock::now() + std::chrono::seconds(20);
    auto manualAt = Clock::now() + std::chrono::seconds(6);
    bool back = false;
    while (Clock::now() < deadline) {
        std::string pid = mainPid();
        if (!pid.empty() && pid != "0" && pid != k.oldPid && serviceAnswers()) {
            k.newPid = pid;
            back = true;
            break;
        }
        if (!k.manualStart && Clock::now() > manualAt) {
            k.manualStart = true;
            say("kill #" + std::to_string(index) + ": not back after 6 s, reset-failed + start");
            std::system(
                (std::string("systemctl reset-failed ") + kUnit + "; systemctl start " + kUnit).c_str());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    k.tBack = since0();
    {
        std::lock_guard<std::mutex> lock(gHist);
        gKills.back() = k;
    }
    if (back) {
        say("kill #" + std::to_string(index) + ": service back as pid " + k.newPid + " after " +
            std::to_string(k.tBack - k.tKill) + " s" + (k.manualStart ? " (started by hand)" : ""));
    } else {
        fail("kill #" + std::to_string(index) + ": the service did not come back within 20 s");
    }
    return back;
}

// Pause the clients; true once every client waits (their calls replied).
bool pauseClients(const Options& opt, unsigned clients) {
    std::unique_lock<std::mutex> lock(gPauseMutex);
    gPause = true;
    return gPauseCv.wait_for(lock, std::chrono::seconds(opt.callTimeout + 10),
                             [clients] { return gParked == clients; });
}
void resumeClients() {
    std::lock_guard<std::mutex> lock(gPauseMutex);
    gPause = false;
    gPauseCv.notify_all();
}

// Invariant 5 over the calls not checked yet: each got a reply (success or
// a named error) within its timeout; NoReply/Timeout only when the call was
// in flight at a kill.
void checkReplies(const std::string& when) {
    std::lock_guard<std::mutex> lock(gHist);
    unsigned n = 0, killed = 0, down = 0;
    std::vector<std::string> bad;
    for (auto& c : gCalls) {
        if (c.checked)
            continue;
        c.checked = true;
        ++n;
        if (c.outcome == "ok")
            continue;
        bool inFlightAtKill = false;
        for (const auto& k : gKills) {
            // In flight while the old process may have taken it: started
            // before that process was dead, replied after the kill began.
            if (c.t0 <= std::max(k.tKillDone, k.tGone) && c.t1 >= k.tKill)
                inFlightAtKill = true;
        }
        if (isKillRelated(c.outcome)) {
            if (inFlightAtKill) {
                ++killed;
                continue;
            }
            bad.push_back("no reply though no kill happened during the call: " + formatCall(c));
            continue;
        }
        if (isServiceDown(c.outcome)) {
            // Only between a kill and the new instance answering.
            bool inDownWindow = false;
            for (const auto& k : gKills) {
                if (c.t0 >= k.tKill && c.t0 <= k.tBack)
                    inDownWindow = true;
            }
            if (inDownWindow) {
                ++down;
                continue;
            }
            bad.push_back("service unreachable outside any kill window: " + formatCall(c));
            continue;
        }
        if (!isNamed(c.outcome))
            bad.push_back("error outside the catalogue: " + formatCall(c));
    }
    std::string what = "[inv5 replies] " + when + ": " + std::to_string(n) +
                       " calls, each one reply or a named error (" + std::to_string(killed) +
                       " NoReply/Timeout, all in flight at a kill; " + std::to_string(down) +
                       " ServiceUnknown, all sent while the service was down)";
    if (bad.empty()) {
        pass(what);
    } else {
        std::string detail;
        for (const auto& b : bad)
            detail += "\n    " + b;
        fail(what + detail);
    }
}

void runChecker(const Options& opt, const std::string& when) {
    if (opt.checker.empty())
        return;
    std::string cmd = opt.checker + " --when '" + when + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
        fail(when + ": cannot run the invariant checker");
        return;
    }
    char buf[8192];
    unsigned passes = 0, fails = 0;
    while (fgets(buf, sizeof buf, p)) {
        std::string line(buf);
        while (!line.empty() && line.back() == '\n')
            line.pop_back();
        if (line.rfind("PASS: ", 0) == 0) {
            ++gPassed;
            ++passes;
        } else if (line.rfind("FAIL: ", 0) == 0) {
            ++gFailed;
            ++fails;
        }
        say(line);
    }
    // Exit 0 with checks and none failed, or exit 1 with failed checks: any
    // other ending (an uncaught exception exits 1 with a traceback and no
    // FAIL: line, a crash, no checks at all) leaves the invariants unchecked.
    int rc = pclose(p);
    bool clean = WIFEXITED(rc) && WEXITSTATUS(rc) == 0 && fails == 0 && passes > 0;
    bool failedChecks = WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && fails > 0;
    if (!clean && !failedChecks) {
        fail(when + ": invariant checker ended with status " + std::to_string(rc) + " after " +
             std::to_string(passes) + " PASS and " + std::to_string(fails) + " FAIL lines");
    }
}

void checkpoint(const Options& opt, const std::string& when) {
    say("---- checkpoint: " + when + " at " + std::to_string(since0()) + " (" + wallClock() + ")");
    checkReplies(when);
    runChecker(opt, when);
}

// One call on its own connection, recorded for invariant 5 as the clients' are.
void recordedCall(unsigned client, unsigned seq, const std::string& op, const std::string& name,
                  const std::map<std::string, sdbus::Variant>* spec, const Options& opt) {
    CallRecord rec;
    rec.client = client;
    rec.seq = seq;
    rec.op = op;
    rec.name = name;
    rec.t0 = since0();
    rec.wall0 = wallClock();
    try {
        auto connection = sdbus::createSystemBusConnection();
        auto proxy = sdbus::createProxy(*connection, kBus, kPath);
        auto call = proxy->createMethodCall(kIface, op);
        call << name;
        if (spec != nullptr) {
            call << *spec;
        }
        proxy->callMethod(call, static_cast<uint64_t>(opt.callTimeout) * 1000000ULL);
        rec.outcome = "ok";
    } catch (const sdbus::Error& e) {
        rec.outcome = e.getName().empty() ? "(unnamed)" : e.getName();
        rec.message = e.getMessage();
    }
    rec.t1 = since0();
    std::lock_guard<std::mutex> lock(gHist);
    gCalls.push_back(rec);
}

// Issue 25 item 10: the service killed a moment into many concurrent
// Starts. The new instance's startup snapshot of the units must not undo
// the unit signals that follow it: once settled, every State agrees with
// its unit (invariant 4), none stuck at "starting".
void restartDuringStarts(const Options& opt, unsigned& killIndex) {
    constexpr unsigned kStarts = 20;
    const unsigned client = opt.clients + 1;  // the storm's calls, apart from the clients'
    std::seed_seq stormSeq{static_cast<std::uint32_t>(opt.seed), static_cast<std::uint32_t>(opt.seed >> 32),
                           0x5702Du};
    std::mt19937 rng(stormSeq);
    const unsigned delayMs = std::uniform_int_distribution<unsigned>(200, 1000)(rng);
    std::vector<std::string> names;
    for (unsigned i = 0; i < kStarts; ++i) {
        names.push_back("storm-" + std::to_string(i));
    }
    say("---- storm: " + std::to_string(kStarts) + " concurrent Starts, the service killed " +
        std::to_string(delayMs) + " ms in");
    const std::map<std::string, sdbus::Variant> spec = {
        {"SystemPath", sdbus::Variant(opt.systemA)}, {"TimeoutStartSec", sdbus::Variant(std::string("30s"))}};
    unsigned seq = 0;
    for (const auto& name : names) {
        recordedCall(client, seq++, "Create", name, &spec, opt);
    }
    std::atomic<unsigned> answered{0};
    std::vector<std::thread> starts;
    for (const auto& name : names) {
        starts.emplace_back([&opt, &answered, client, name, start = seq++] {
            recordedCall(client, start, "Start", name, nullptr, opt);
            ++answered;
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
    const unsigned before = answered.load();
    // What systemd was doing at the kill: the race needs units still activating.
    const auto units = capture(
        "systemctl list-units --all --plain --no-legend 'nixos-container@storm-*' "
        "| awk '{print $3}' | sort | uniq -c | tr -s ' \\n' ' '");
    const bool back = killAndRestart(++killIndex);
    for (auto& start : starts) {
        start.join();
    }
    say("storm: " + std::to_string(before) + " of " + std::to_string(kStarts) +
        " Starts had answered at the kill; their units then:" + units);
    if (back) {
        checkpoint(opt, "after restart #" + std::to_string(killIndex) + " during " + std::to_string(kStarts) +
                            " concurrent Starts");
    }
    for (const auto& name : names) {
        recordedCall(client, seq++, "Destroy", name, nullptr, opt);
    }
}

unsigned long long parseNum(const char* s, const char* what) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (!s[0] || *end) {
        std::cerr << "chaos_driver: bad " << what << " '" << s << "'\n";
        std::exit(2);
    }
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::cerr << "chaos_driver: " << a << " needs a value\n";
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--seconds")
            opt.seconds = parseNum(next(), a.c_str());
        else if (a == "--seed")
            opt.seed = parseNum(next(), a.c_str());
        else if (a == "--clients")
            opt.clients = parseNum(next(), a.c_str());
        else if (a == "--call-timeout")
            opt.callTimeout = parseNum(next(), a.c_str());
        else if (a == "--kill-min")
            opt.killMin = parseNum(next(), a.c_str());
        else if (a == "--kill-max")
            opt.killMax = parseNum(next(), a.c_str());
        else if (a == "--system-a")
            opt.systemA = next();
        else if (a == "--system-b")
            opt.systemB = next();
        else if (a == "--checker")
            opt.checker = next();
        else if (a == "--history")
            opt.historyFile = next();
        else if (a == "--inject-outcome")
            opt.injectedOutcomes.push_back(next());
        else {
            std::cerr << "usage: chaos_driver --seed S --seconds N --system-a PATH --system-b PATH "
                         "[--clients 8] [--call-timeout 60] [--kill-min 6] [--kill-max 16] "
                         "[--checker CMD] [--history FILE] [--inject-outcome ERROR]...\n";
            return 2;
        }
    }
    if (opt.systemA.empty() || opt.systemB.empty() || opt.killMin < 3 || opt.killMax < opt.killMin) {
        std::cerr << "chaos_driver: need --system-a, --system-b, and 3 <= kill-min <= kill-max\n";
        return 2;
    }
    gT0 = Clock::now();
    say("chaos-driver: seed " + std::to_string(opt.seed) + ", " + std::to_string(opt.clients) + " clients, " +
        std::to_string(opt.seconds) + " s, call timeout " + std::to_string(opt.callTimeout) +
        " s, kills every " + std::to_string(opt.killMin) + "-" + std::to_string(opt.killMax) +
        " s; started " + wallClock());
    say("chaos-driver: replay with CHAOS_SEED=" + std::to_string(opt.seed) +
        " CHAOS_SECONDS=" + std::to_string(opt.seconds) +
        " (same operations per client and the same kill schedule; timing and interleaving differ)");
    for (const auto& t : kTargets) {
        say("chaos-driver: name " + t.name + " (" + std::to_string(t.name.size()) + " chars" +
            (t.privateNetwork ? ", PrivateNetwork" : "") + ")");
    }

    for (const auto& outcome : opt.injectedOutcomes) {
        CallRecord rec;
        rec.op = "Injected";
        rec.name = "selfcheck";
        rec.outcome = outcome;
        rec.wall0 = wallClock();
        std::lock_guard<std::mutex> lock(gHist);
        gCalls.push_back(rec);
    }

    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<Client>> clients;
    for (unsigned i = 0; i < opt.clients; ++i)
        clients.push_back(std::make_unique<Client>(i, opt));
    for (auto& c : clients)
        threads.emplace_back([&c] { c->run(); });

    // The kill schedule: seconds after the start, from the seed alone.
    std::seed_seq killSeq{static_cast<std::uint32_t>(opt.seed), static_cast<std::uint32_t>(opt.seed >> 32),
                          0xC4A05u};
    std::mt19937 killRng(killSeq);
    auto end = gT0 + std::chrono::seconds(opt.seconds);
    unsigned killIndex = 0;
    bool serviceLost = false;
    while (true) {
        auto wait = std::chrono::milliseconds(
            std::uniform_int_distribution<unsigned>(opt.killMin * 1000, opt.killMax * 1000)(killRng));
        auto at = Clock::now() + wait;
        if (at >= end)
            break;
        std::this_thread::sleep_until(at);
        ++killIndex;
        if (!killAndRestart(killIndex)) {
            serviceLost = true;
            break;
        }
        if (!pauseClients(opt, opt.clients)) {
            fail("kill #" + std::to_string(killIndex) + ": clients did not pause within the call timeout (" +
                 std::to_string(gInFlight.load()) + " calls in flight)");
        }
        checkpoint(opt, "after restart #" + std::to_string(killIndex));
        resumeClients();
    }
    if (!serviceLost)
        std::this_thread::sleep_until(end);

    // The end: no new calls; wait for those in flight.
    {
        std::lock_guard<std::mutex> lock(gPauseMutex);
        gStop = true;
        gPause = false;
        gPauseCv.notify_all();
    }
    for (auto& t : threads)
        t.join();
    if (!serviceLost && opt.clients > 0)
        restartDuringStarts(opt, killIndex);
    checkpoint(opt, "at the end");

    // The history: every call, ordered by start time.
    std::vector<CallRecord> calls;
    {
        std::lock_guard<std::mutex> lock(gHist);
        calls = gCalls;
    }
    std::sort(calls.begin(), calls.end(),
              [](const CallRecord& a, const CallRecord& b) { return a.t0 < b.t0; });
    std::map<std::string, unsigned> byOutcome;
    for (const auto& c : calls)
        ++byOutcome[c.op + " " + c.outcome];
    std::ostringstream hist;
    hist << "# chaos history: seed " << opt.seed << ", " << opt.clients << " clients, " << opt.seconds
         << " s\n";
    for (const auto& k : gKills) {
        hist << "# kill #" << k.index << " at " << k.tKill << "-" << k.tKillDone << ", dead at " << k.tGone
             << " (" << k.wall << ") pid " << k.oldPid << " -> " << k.newPid << " back at " << k.tBack
             << (k.manualStart ? " (started by hand)" : "") << "\n";
    }
    for (const auto& c : calls)
        hist << formatCall(c) << "\n";
    if (!opt.historyFile.empty()) {
        std::ofstream f(opt.historyFile);
        f << hist.str();
    }
    say("---- history (" + std::to_string(calls.size()) + " calls, " + std::to_string(gKills.size()) +
        " kills)");
    std::cout << hist.str();
    say("---- outcomes");
    for (const auto& [k, n] : byOutcome)
        say("  " + std::to_string(n) + "  " + k);
    say("chaos-driver: seed " + std::to_string(opt.seed) + ", " + std::to_string(calls.size()) + " calls, " +
        std::to_string(gKills.size()) + " kills, " + std::to_string(since0()) + " s");
    say("chaos-driver: " + std::to_string(gPassed.load()) + " passed, " + std::to_string(gFailed.load()) +
        " failed");
    return gFailed.load() == 0 ? 0 : 1;
}
