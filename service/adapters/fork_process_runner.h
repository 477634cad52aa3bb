#pragma once

#include "event_loop.h"
#include "system_seams.h"

#include <map>
#include <memory>

namespace nixos_containers {

// ProcessRunner with fork and exec, watched from the event loop (sd-event
// child and io sources). With namespacesOf it enters the container like
// `nixos-container run` (nsenter -t LEADER -m -u -i -n -p): every namespace
// of the leader and its root directory.
class ForkProcessRunner final : public ProcessRunner {
public:
    explicit ForkProcessRunner(EventLoop& loop);
    ~ForkProcessRunner() override;
    void run(const ProcessRequest& request, std::function<void(const std::string&)> onLine,
             Callback<ProcessExit> done) override;

private:
    struct Child;
    static int onOutput(sd_event_source* source, int fd, uint32_t events, void* userdata);
    static int onExit(sd_event_source* source, const siginfo_t* info, void* userdata);
    void maybeFinish(Child* child);

    EventLoop& loop_;
    std::map<Child*, std::unique_ptr<Child>> children_;
};

}  // namespace nixos_containers
