#include "object_subtree.h"

#include "log.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace nixos_containers {

namespace {

// sdbus-c++ 1.2 neither hands out its sd_bus nor wraps a raw message. Both
// are protected members and constructors of its message classes, reachable
// from derived classes.
struct MessageInternals : sdbus::Message {
    static sd_bus_message* raw(const sdbus::Message& message) {
        return static_cast<sd_bus_message*>(message.*(&MessageInternals::msg_));
    }
    static sdbus::internal::ISdBus* busWrapper(const sdbus::Message& message) {
        return message.*(&MessageInternals::sdbus_);
    }
};

struct WrappedCall : sdbus::MethodCall {
    WrappedCall(sd_bus_message* message, sdbus::internal::ISdBus* bus) : sdbus::MethodCall(message, bus) {}
};

struct WrappedGetReply : sdbus::PropertyGetReply {
    WrappedGetReply(sd_bus_message* message, sdbus::internal::ISdBus* bus)
        : sdbus::PropertyGetReply(message, bus) {}
};

[[noreturn]] void notSupported(const char* what) {
    throw std::logic_error(std::string("ObjectSubtree does not support ") + what);
}

int setError(sd_bus_error* error, const std::string& name, const std::string& message) {
    return sd_bus_error_set(error, name.c_str(), message.c_str());
}

// Runs a recorded handler; what it throws becomes the call's error, as in
// sdbus-c++'s own dispatch, never an exception through sd-bus.
template <typename Handler>
int runHandler(sd_bus_error* error, Handler&& handler) {
    try {
        handler();
    } catch (const sdbus::Error& failure) {
        return setError(error, failure.getName(), failure.getMessage());
    } catch (const std::exception& failure) {
        return setError(error, SD_BUS_ERROR_FAILED, failure.what());
    }
    return 1;
}

}  // namespace

// ------------------------------------------------------------- recording

class ObjectSubtree::Recorder final : public sdbus::IObject {
public:
    Recorder(ObjectSubtree& owner, sdbus::IConnection& connection) : owner_(owner), connection_(connection) {}

    void registerMethod(const std::string& interfaceName, std::string methodName, std::string inputSignature,
                        std::string outputSignature, sdbus::method_callback methodCallback,
                        sdbus::Flags flags) override {
        registerMethod(interfaceName, std::move(methodName), std::move(inputSignature), {},
                       std::move(outputSignature), {}, std::move(methodCallback), flags);
    }
    void registerMethod(const std::string& interfaceName, std::string methodName, std::string inputSignature,
                        const std::vector<std::string>& inputNames, std::string outputSignature,
                        const std::vector<std::string>& outputNames, sdbus::method_callback methodCallback,
                        sdbus::Flags flags) override {
        checkInterface(interfaceName);
        Method method;
        method.name = std::move(methodName);
        method.inputSignature = std::move(inputSignature);
        method.outputSignature = std::move(outputSignature);
        // sd-bus's format: each input name, then each output name, each NUL-terminated.
        for (const auto& names : {inputNames, outputNames}) {
            for (const auto& name : names) {
                method.parameterNames += name;
                method.parameterNames += '\0';
            }
        }
        method.callback = std::move(methodCallback);
        method.flags = flags.toSdBusMethodFlags();
        owner_.methods_.push_back(std::move(method));
    }
    void registerSignal(const std::string&, std::string, std::string, sdbus::Flags) override {
        notSupported("signals");
    }
    void registerSignal(const std::string&, std::string, std::string, const std::vector<std::string>&,
                        sdbus::Flags) override {
        notSupported("signals");
    }
    void registerProperty(const std::string& interfaceName, std::string propertyName, std::string signature,
                          sdbus::property_get_callback getCallback, sdbus::Flags flags) override {
        checkInterface(interfaceName);
        Property property;
        property.name = std::move(propertyName);
        property.signature = std::move(signature);
        property.getter = std::move(getCallback);
        property.flags = flags.toSdBusPropertyFlags();
        owner_.properties_.push_back(std::move(property));
    }
    // sdbus-c++'s registrator always comes here, with no setter for a read-only property.
    void registerProperty(const std::string& interfaceName, std::string propertyName, std::string signature,
                          sdbus::property_get_callback getCallback, sdbus::property_set_callback setCallback,
                          sdbus::Flags flags) override {
        if (setCallback) {
            notSupported("writable properties");
        }
        registerProperty(interfaceName, std::move(propertyName), std::move(signature), std::move(getCallback),
                         flags);
    }
    void setInterfaceFlags(const std::string& interfaceName, sdbus::Flags flags) override {
        checkInterface(interfaceName);
        owner_.interfaceFlags_ = flags.toSdBusInterfaceFlags();
    }
    void finishRegistration() override { owner_.finishRegistration(); }
    void unregister() override {}
    sdbus::Signal createSignal(const std::string&, const std::string&) override { notSupported("signals"); }
    void emitSignal(const sdbus::Signal&) override { notSupported("signals"); }
    void emitPropertiesChangedSignal(const std::string&, const std::vector<std::string>&) override {
        notSupported("emitting without a path");
    }
    void emitPropertiesChangedSignal(const std::string&) override { notSupported("emitting without a path"); }
    void emitInterfacesAddedSignal() override { notSupported("emitting without a path"); }
    void emitInterfacesAddedSignal(const std::vector<std::string>&) override {
        notSupported("emitting without a path");
    }
    void emitInterfacesRemovedSignal() override { notSupported("emitting without a path"); }
    void emitInterfacesRemovedSignal(const std::vector<std::string>&) override {
        notSupported("emitting without a path");
    }
    void addObjectManager() override { notSupported("an object manager"); }
    void removeObjectManager() override { notSupported("an object manager"); }
    bool hasObjectManager() const override { return false; }
    sdbus::IConnection& getConnection() const override { return connection_; }
    const std::string& getObjectPath() const override { return owner_.prefix_; }
    const sdbus::Message* getCurrentlyProcessedMessage() const override { return owner_.currentMessage_; }

private:
    void checkInterface(const std::string& interfaceName) const {
        if (interfaceName != owner_.interface_) {
            throw std::logic_error("ObjectSubtree for " + owner_.interface_ + " got " + interfaceName);
        }
    }

    ObjectSubtree& owner_;
    sdbus::IConnection& connection_;
};

class ObjectSubtree::Dispatch {
public:
    Dispatch(ObjectSubtree& owner, const std::string& key, const sdbus::Message* message)
        : owner_(owner), savedKey_(std::move(owner.currentKey_)), savedMessage_(owner.currentMessage_) {
        owner_.currentKey_ = key;
        owner_.currentMessage_ = message;
    }
    ~Dispatch() {
        owner_.currentKey_ = std::move(savedKey_);
        owner_.currentMessage_ = savedMessage_;
    }
    Dispatch(const Dispatch&) = delete;
    Dispatch& operator=(const Dispatch&) = delete;

private:
    ObjectSubtree& owner_;
    std::string savedKey_;
    const sdbus::Message* savedMessage_;
};

// ------------------------------------------------------------ the subtree

ObjectSubtree::ObjectSubtree(sdbus::IConnection& connection, std::string prefix, std::string interface)
    : prefix_(std::move(prefix)),
      interface_(std::move(interface)),
      recorder_(std::make_unique<Recorder>(*this, connection)) {
    // Any message made on the connection leads to its sd_bus; a signal is the
    // one message an unregistered object can make.
    auto probe = sdbus::createObject(connection, prefix_);
    auto signal = probe->createSignal(interface_, "Probe");
    bus_ = sd_bus_message_get_bus(MessageInternals::raw(signal));
    busWrapper_ = MessageInternals::busWrapper(signal);
    if (bus_ == nullptr || busWrapper_ == nullptr) {
        throw std::runtime_error("cannot reach the sd-bus connection of " + prefix_);
    }
}

ObjectSubtree::~ObjectSubtree() = default;

sdbus::IObject& ObjectSubtree::recorder() {
    return *recorder_;
}

void ObjectSubtree::finishRegistration() {
    if (vtableSlot_) {
        return;
    }
    vtable_.clear();
    sd_bus_vtable start{};
    start.type = _SD_BUS_VTABLE_START;
    start.flags = interfaceFlags_;
    start.x.start.element_size = sizeof(sd_bus_vtable);
    start.x.start.features = _SD_BUS_VTABLE_PARAM_NAMES;
    start.x.start.vtable_format_reference = &sd_bus_object_vtable_format;
    vtable_.push_back(start);
    for (const auto& method : methods_) {
        sd_bus_vtable item{};
        item.type = _SD_BUS_VTABLE_METHOD;
        item.flags = method.flags;
        item.x.method.member = method.name.c_str();
        item.x.method.signature = method.inputSignature.c_str();
        item.x.method.result = method.outputSignature.c_str();
        item.x.method.handler = &ObjectSubtree::callMethod;
        item.x.method.offset = 0;
        item.x.method.names = method.parameterNames.c_str();
        vtable_.push_back(item);
        methodByName_[method.name] = &method;
    }
    for (const auto& property : properties_) {
        sd_bus_vtable item{};
        item.type = _SD_BUS_VTABLE_PROPERTY;
        item.flags = property.flags;
        item.x.property.member = property.name.c_str();
        item.x.property.signature = property.signature.c_str();
        item.x.property.get = &ObjectSubtree::getProperty;
        item.x.property.set = nullptr;
        item.x.property.offset = 0;
        vtable_.push_back(item);
        propertyByName_[property.name] = &property;
    }
    sd_bus_vtable end{};
    end.type = _SD_BUS_VTABLE_END;
    vtable_.push_back(end);

    sd_bus_slot* slot = nullptr;
    int result = sd_bus_add_fallback_vtable(bus_, &slot, prefix_.c_str(), interface_.c_str(), vtable_.data(),
                                            &ObjectSubtree::findObject, this);
    if (result < 0) {
        throw std::runtime_error("cannot serve " + interface_ + " below " + prefix_ + ": " +
                                 std::strerror(-result));
    }
    vtableSlot_.reset(slot);
    result = sd_bus_add_node_enumerator(bus_, &slot, prefix_.c_str(), &ObjectSubtree::enumerateObjects, this);
    if (result < 0) {
        vtableSlot_.reset();
        throw std::runtime_error("cannot enumerate objects below " + prefix_ + ": " + std::strerror(-result));
    }
    enumeratorSlot_.reset(slot);
}

void ObjectSubtree::add(const std::string& path, std::string key, bool announce) {
    objects_.insert_or_assign(path, Entry{this, std::move(key)});
    if (announce) {
        int result = sd_bus_emit_interfaces_added(bus_, path.c_str(), interface_.c_str(), nullptr);
        if (result < 0) {
            logWarning("cannot emit InterfacesAdded for " + path + ": " + std::strerror(-result));
        }
    }
}

void ObjectSubtree::remove(const std::string& path) {
    if (objects_.find(path) == objects_.end()) {
        return;
    }
    int result = sd_bus_emit_interfaces_removed(bus_, path.c_str(), interface_.c_str(), nullptr);
    if (result < 0) {
        logWarning("cannot emit InterfacesRemoved for " + path + ": " + std::strerror(-result));
    }
    objects_.erase(path);
}

void ObjectSubtree::emitPropertiesChanged(const std::string& path,
                                          const std::vector<std::string>& properties) {
    if (properties.empty() || objects_.find(path) == objects_.end()) {
        return;
    }
    std::vector<char*> names;
    names.reserve(properties.size() + 1);
    for (const auto& property : properties) {
        names.push_back(const_cast<char*>(property.c_str()));  // sd-bus's strv type; not written
    }
    names.push_back(nullptr);
    int result = sd_bus_emit_properties_changed_strv(bus_, path.c_str(), interface_.c_str(), names.data());
    if (result < 0) {
        logWarning("cannot emit PropertiesChanged for " + path + ": " + std::strerror(-result));
    }
}

// ------------------------------------------------------- sd-bus callbacks

int ObjectSubtree::findObject(sd_bus*, const char* path, const char*, void* userdata, void** found,
                              sd_bus_error*) {
    auto& self = *static_cast<ObjectSubtree*>(userdata);
    auto entry = self.objects_.find(path);
    if (entry == self.objects_.end()) {
        return 0;
    }
    *found = &entry->second;
    return 1;
}

int ObjectSubtree::enumerateObjects(sd_bus*, const char*, void* userdata, char*** nodes, sd_bus_error*) {
    const auto& self = *static_cast<const ObjectSubtree*>(userdata);
    // sd-bus takes a NULL-terminated array and frees it and its strings with
    // free(): malloc'd memory is the contract here.
    // NOLINTBEGIN(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory)
    struct StrvFree {
        void operator()(char** strv) const {
            for (char** entry = strv; *entry != nullptr; ++entry) {
                std::free(*entry);
            }
            std::free(static_cast<void*>(strv));
        }
    };
    std::unique_ptr<char*, StrvFree> paths(
        static_cast<char**>(std::calloc(self.objects_.size() + 1, sizeof(char*))));
    if (!paths) {
        return -ENOMEM;
    }
    std::size_t count = 0;
    for (const auto& [path, entry] : self.objects_) {
        paths.get()[count] = strdup(path.c_str());
        if (paths.get()[count] == nullptr) {
            return -ENOMEM;
        }
        ++count;
    }
    // NOLINTEND(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory)
    *nodes = paths.release();
    return 0;
}

int ObjectSubtree::callMethod(sd_bus_message* message, void* userdata, sd_bus_error* error) {
    auto& entry = *static_cast<Entry*>(userdata);
    auto& self = *entry.owner;
    const char* memberOrNull = sd_bus_message_get_member(message);
    const std::string member = memberOrNull == nullptr ? "" : memberOrNull;
    auto method = self.methodByName_.find(member);
    if (method == self.methodByName_.end()) {
        return setError(error, SD_BUS_ERROR_UNKNOWN_METHOD, "unknown method '" + member + "'");
    }
    // The entry can go while the method runs: keep the key.
    const std::string key = entry.key;
    WrappedCall call(message, self.busWrapper_);
    Dispatch dispatch(self, key, &call);
    return runHandler(error, [&] { method->second->callback(call); });
}

int ObjectSubtree::getProperty(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply,
                               void* userdata, sd_bus_error* error) {
    auto& entry = *static_cast<Entry*>(userdata);
    auto& self = *entry.owner;
    auto found = self.propertyByName_.find(property);
    if (found == self.propertyByName_.end()) {
        return setError(error, SD_BUS_ERROR_UNKNOWN_PROPERTY, std::string("unknown property ") + property);
    }
    const std::string key = entry.key;
    WrappedGetReply wrapped(reply, self.busWrapper_);
    Dispatch dispatch(self, key, nullptr);
    return runHandler(error, [&] { found->second->getter(wrapped); });
}

}  // namespace nixos_containers
