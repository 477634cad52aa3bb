// The fake org.freedesktop.PolicyKit1: CheckAuthorization, answered per uid.
#include "fake_peers.h"

namespace bus_tests {

namespace {
constexpr const char* kAuthority = "org.freedesktop.PolicyKit1.Authority";
}  // namespace

void FakePeers::setPolkitAnswer(std::uint32_t uid, PolkitAnswer answer) {
    std::lock_guard lock(mutex_);
    polkitAnswers_[uid] = answer;
}

void FakePeers::setPolkitRunning(bool running) {
    loop_.run([this, running] {
        if (!running) {
            loop_.connection().releaseName("org.freedesktop.PolicyKit1");
            return;
        }
        if (!authority_) {
            registerPolkit();
        }
        loop_.connection().requestName("org.freedesktop.PolicyKit1");
    });
}

std::vector<PolkitCheck> FakePeers::polkitChecks() const {
    std::lock_guard lock(mutex_);
    return polkitChecks_;
}

sdbus::Struct<bool, bool, std::map<std::string, std::string>> FakePeers::checkAuthorization(
    const sdbus::Struct<std::string, std::map<std::string, sdbus::Variant>>& subject,
    const std::string& action, const std::map<std::string, std::string>& details, std::uint32_t flags) {
    PolkitCheck check;
    check.subjectKind = subject.get<0>();
    if (auto name = subject.get<1>().find("name"); name != subject.get<1>().end()) {
        check.busName = variantOr<std::string>(name->second, "");
    }
    check.action = action;
    check.details = details;
    check.flags = flags;
    // As polkitd: the subject's uid comes from the bus, not from the caller.
    auto bus = sdbus::createProxy(loop_.connection(), "org.freedesktop.DBus", "/org/freedesktop/DBus");
    bus->finishRegistration();
    bus->callMethod("GetConnectionUnixUser")
        .onInterface("org.freedesktop.DBus")
        .withArguments(check.busName)
        .storeResultsTo(check.uid);
    PolkitAnswer answer = PolkitAnswer::Deny;
    {
        std::lock_guard lock(mutex_);
        polkitChecks_.push_back(check);
        if (auto found = polkitAnswers_.find(check.uid); found != polkitAnswers_.end()) {
            answer = found->second;
        }
    }
    switch (answer) {
        case PolkitAnswer::Allow:
            return {true, false, {}};
        case PolkitAnswer::Deny:
            return {false, false, {}};
        case PolkitAnswer::Challenge:
            // With interaction allowed, the agent "asked" and the user authenticated.
            return (flags & 1U) != 0
                       ? sdbus::Struct<bool, bool, std::map<std::string, std::string>>{true, false, {}}
                       : sdbus::Struct<bool, bool, std::map<std::string, std::string>>{false, true, {}};
    }
    return {false, false, {}};
}

void FakePeers::registerPolkit() {
    authority_ = sdbus::createObject(loop_.connection(), "/org/freedesktop/PolicyKit1/Authority");
    using Subject = sdbus::Struct<std::string, std::map<std::string, sdbus::Variant>>;
    authority_->registerMethod("CheckAuthorization")
        .onInterface(kAuthority)
        .implementedAs([this](const Subject& subject, const std::string& action,
                              const std::map<std::string, std::string>& details, std::uint32_t flags,
                              const std::string& /*cancellationId*/) {
            return checkAuthorization(subject, action, details, flags);
        });
    authority_->finishRegistration();
}

}  // namespace bus_tests
