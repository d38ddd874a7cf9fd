#pragma once
// Reads back a Prometheus text exposition in the tests: its sample lines by series.

#include <map>
#include <sstream>
#include <string>

namespace bulwark::test {

/// The sample lines of an exposition: "name{labels}" -> value text.
inline std::map<std::string, std::string> samples(const std::string& text) {
    std::map<std::string, std::string> m;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#')
            continue;
        auto sp = line.rfind(' ');
        m[line.substr(0, sp)] = line.substr(sp + 1);
    }
    return m;
}

} // namespace bulwark::test
