#pragma once

#include "event_loop.h"
#include "system_seams.h"

#include <map>
#include <memory>
#include <string>

namespace nixos_containers {

// ProcessRunner with fork and exec, watched from the event loop (sd-event
// child and io sources). spawn() enters a container confined: every
// namespace of the leader (its user namespace too), its root, a cgroup
// beneath the container's, the leader's capability bound, no_new_privs, an
// identity inside. run() with namespacesOf goes the same way, as the
// container's root, with its output read line by line.
class ForkProcessRunner final : public ProcessRunner {
public:
    explicit ForkProcessRunner(EventLoop& loop);
    ~ForkProcessRunner() override;
    ProcessId run(const ProcessRequest& request, std::function<void(const std::string&)> onLine,
                  Callback<ProcessExit> done) override;
    // confined_spawn.cpp: Run's commands.
    ProcessId spawn(const ConfinedRequest& request, Callback<ProcessExit> done) override;
    void kill(ProcessId id) override;

private:
    struct Child;
    // A command from spawn(), until its main process ended.
    struct Spawned {
        ForkProcessRunner* runner = nullptr;
        ProcessId id = 0;
        pid_t pid = -1;
        std::string cgroup;  // its own cgroup directory; empty when it joined the leader's
        EventSourcePtr exitSource{nullptr, sd_event_source_unref};
        Callback<ProcessExit> done;
    };
    static int onSpawnedExit(sd_event_source* source, const siginfo_t* info, void* userdata);
    static int onOutput(sd_event_source* source, int fd, uint32_t events, void* userdata);
    static int onExit(sd_event_source* source, const siginfo_t* info, void* userdata);
    static int onTimeout(sd_event_source* source, uint64_t usec, void* userdata);
    void maybeFinish(Child* child);
    // Kills a run()'s process (its cgroup, in a container) and stops
    // waiting for its output, which something it started may hold open.
    void killChild(Child& child);
    // kill() of a run()'s id; false when it is none (or has finished).
    bool killRun(ProcessId id);
    [[nodiscard]] Child* childWithId(ProcessId id) const;
    void watchTimeout(Child& child, std::uint64_t timeoutUsec);
    // Takes ownership of `output`, read into child.onLine.
    void watchOutput(Child& child, int output);
    ProcessId runInContainer(const ProcessRequest& request, std::function<void(const std::string&)> onLine,
                             Callback<ProcessExit> done);

    EventLoop& loop_;
    std::map<Child*, std::unique_ptr<Child>> children_;
    std::map<ProcessId, std::unique_ptr<Spawned>> spawned_;
    ProcessId nextSpawn_ = 1;
};

}  // namespace nixos_containers
