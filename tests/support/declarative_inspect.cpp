// declarative-inspect: the spec the service reads from a conf nixpkgs'
// module wrote, or from one container of our module's declarative set,
// printed as Inspect prints it (spec keys only). tests/nixos holds the two
// modules' outputs against each other with it.
//
//   declarative-inspect conf FILE
//   declarative-inspect set FILE NAME

#include "conf_file.h"
#include "container.h"
#include "container_json.h"
#include "declarative_set.h"
#include "errors.h"
#include "spec_keys.h"

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace nc = nixos_containers;

namespace {

std::string readAll(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw std::runtime_error("cannot open '" + path + "'");
    }
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

nc::ContainerSpec specOf(const std::string& mode, const std::string& path, const std::string& name) {
    const auto text = readAll(path);
    if (mode == "conf") {
        return nc::specFromConf(nc::EnvFile::parse(text));
    }
    for (const auto& declared : nc::parseDeclarativeSet(text)) {
        if (declared.name == name) {
            if (!declared.problem.empty()) {
                throw std::runtime_error(declared.problem);
            }
            return declared.spec;
        }
    }
    throw std::runtime_error("the set declares no container '" + name + "'");
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (!((mode == "conf" && argc == 3) || (mode == "set" && argc == 4))) {
        std::cerr << "usage: declarative-inspect conf FILE | set FILE NAME\n";
        return 2;
    }
    try {
        nc::Container container;
        container.spec = specOf(mode, argv[2], mode == "set" ? argv[3] : "");
        const auto inspected = nc::toJson(container);
        nlohmann::json spec = nlohmann::json::object();
        for (const auto& key : nc::specKeys()) {
            spec[std::string(key.busName)] = inspected.at(std::string(key.busName));
        }
        std::cout << spec.dump(2) << "\n";
    } catch (const std::exception& error) {
        std::cerr << "declarative-inspect: " << error.what() << "\n";
        return 1;
    }
    return 0;
}
