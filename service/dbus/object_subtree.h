#pragma once

#include <sdbus-c++/sdbus-c++.h>
#include <systemd/sd-bus.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace nixos_containers {

// Serves one D-Bus interface on every object below a path prefix with a
// single sd-bus fallback vtable and a node enumerator. An object costs a map
// entry: registering a vtable per object (what sdbus-c++ does) costs ~170k
// instructions each, most of a 1000-container startup.
//
// The interface is still the generated adaptor (the XML stays the single
// source of the API): the adaptor is constructed once against recorder(),
// which keeps what it registers; finishRegistration() turns that into the
// vtable. While a method or a property getter runs, currentKey() names the
// object it is for and currentMessage() is the call.
//
// Loop thread only, like the sdbus-c++ connection it shares.
class ObjectSubtree final {
public:
    ObjectSubtree(sdbus::IConnection& connection, std::string prefix, std::string interface);
    ~ObjectSubtree();
    ObjectSubtree(const ObjectSubtree&) = delete;
    ObjectSubtree& operator=(const ObjectSubtree&) = delete;

    // Construct the adaptor against this, then call finishRegistration().
    sdbus::IObject& recorder();
    void finishRegistration();

    // `path` must be below the prefix. `announce` emits InterfacesAdded.
    void add(const std::string& path, std::string key, bool announce);
    // Emits InterfacesRemoved when the object existed.
    void remove(const std::string& path);
    void emitPropertiesChanged(const std::string& path, const std::vector<std::string>& properties);

    const std::string& currentKey() const { return currentKey_; }
    const sdbus::Message* currentMessage() const { return currentMessage_; }

private:
    class Recorder;
    struct Method {
        std::string name, inputSignature, outputSignature, parameterNames;
        sdbus::method_callback callback;
        std::uint64_t flags = 0;
    };
    struct Property {
        std::string name, signature;
        sdbus::property_get_callback getter;
        std::uint64_t flags = 0;
    };
    struct Entry {
        ObjectSubtree* owner;
        std::string key;
    };
    // Sets currentKey_/currentMessage_ for one dispatch, restores on exit
    // (a getter can run inside a method, e.g. PropertiesChanged).
    class Dispatch;

    static int findObject(sd_bus* bus, const char* path, const char* interface, void* userdata, void** found,
                          sd_bus_error* error);
    static int enumerateObjects(sd_bus* bus, const char* prefix, void* userdata, char*** nodes,
                                sd_bus_error* error);
    static int callMethod(sd_bus_message* message, void* userdata, sd_bus_error* error);
    static int getProperty(sd_bus* bus, const char* path, const char* interface, const char* property,
                           sd_bus_message* reply, void* userdata, sd_bus_error* error);

    std::string prefix_;
    std::string interface_;
    std::unique_ptr<Recorder> recorder_;
    sd_bus* bus_ = nullptr;  // owned by the connection, which outlives this
    sdbus::internal::ISdBus* busWrapper_ = nullptr;
    std::uint64_t interfaceFlags_ = 0;
    std::deque<Method> methods_;  // deque: the vtable points into these strings
    std::deque<Property> properties_;
    std::unordered_map<std::string, const Method*> methodByName_;
    std::unordered_map<std::string, const Property*> propertyByName_;
    std::vector<sd_bus_vtable> vtable_;
    std::unordered_map<std::string, Entry> objects_;  // by path; nodes keep their address
    std::unique_ptr<sd_bus_slot, decltype(&sd_bus_slot_unref)> vtableSlot_{nullptr, &sd_bus_slot_unref};
    std::unique_ptr<sd_bus_slot, decltype(&sd_bus_slot_unref)> enumeratorSlot_{nullptr, &sd_bus_slot_unref};
    std::string currentKey_;
    const sdbus::Message* currentMessage_ = nullptr;
};

}  // namespace nixos_containers
