// Fuzz target: header_map (core/headers.hpp) driven by a random sequence of operations and
// compared after each one with a model: an insertion-ordered list of (name, value) with
// ASCII case-insensitive names, where setting an existing name replaces its value in place.
// Values up to 300 bytes make the map move between its inline buffer and the heap.
#include <bulwark/core/headers.hpp>

#include "fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr const char* target = "header_map";

bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lo = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
        if (lo(a[i]) != lo(b[i]))
            return false;
    }
    return true;
}

struct model {
    std::vector<std::pair<std::string, std::string>> entries;

    const std::pair<std::string, std::string>* find(std::string_view n) const {
        return const_cast<model*>(this)->find(n);
    }
    std::pair<std::string, std::string>* find(std::string_view n) {
        for (auto& e : entries)
            if (iequal(e.first, n))
                return &e;
        return nullptr;
    }
    void set(std::string_view n, std::string_view v) {
        if (auto* e = find(n))
            e->second = v;
        else
            entries.emplace_back(n, v);
    }
    bool erase(std::string_view n) {
        for (auto it = entries.begin(); it != entries.end(); ++it)
            if (iequal(it->first, n)) {
                entries.erase(it);
                return true;
            }
        return false;
    }
};

std::string describe(const model& m) {
    std::string s = "model{";
    for (auto& [k, v] : m.entries)
        s += fuzz::show(k) + ":" + std::to_string(v.size()) + "B ";
    return s + "}";
}
std::string describe(const bulwark::header_map& h) {
    std::string s = "header_map{";
    h.for_each([&](std::string_view k, std::string_view v) {
        s += fuzz::show(k) + ":" + std::to_string(v.size()) + "B ";
    });
    return s + "}";
}

/// True when equal; otherwise reports (a phantom empty-named header is the known defect).
bool same(const bulwark::header_map& h, const model& m, const std::string& trace) {
    // The fast path compares in place: this runs after every operation.
    std::size_t i = 0;
    bool fast = h.size() == m.entries.size() && h.empty() == m.entries.empty();
    h.for_each([&](std::string_view k, std::string_view v) {
        fast = fast && i < m.entries.size() && iequal(k, m.entries[i].first) &&
               v == m.entries[i].second;
        ++i;
    });
    if (fast && i == m.entries.size())
        return true;
    std::vector<std::pair<std::string, std::string>> got;
    h.for_each([&](std::string_view k, std::string_view v) { got.emplace_back(k, v); });
    bool equal = got.size() == m.entries.size() && h.size() == m.entries.size() &&
                 h.empty() == m.entries.empty();
    for (std::size_t j = 0; equal && j < got.size(); ++j)
        equal = iequal(got[j].first, m.entries[j].first) && got[j].second == m.entries[j].second;
    if (equal)
        return true;
    // The known defect: a replaced entry left behind as an extra header with an empty name.
    std::size_t empty_got = 0, empty_want = 0;
    for (auto& [k, v] : got)
        empty_got += k.empty();
    for (auto& [k, v] : m.entries)
        empty_want += k.empty();
    const bool phantom = empty_got > empty_want;
    const std::string what = trace + " -> " + describe(h) + " but " + describe(m);
    if (phantom) {
        fuzz::known_defect(target, "header_map_phantom", what);
        return false;
    }
    fuzz::fail(target, what);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    bulwark::header_map h;
    model m;
    std::string trace; // the operations so far, for the report
    static const char alphabet[] = {'a', 'A', 'b', 'B', 'c', '-', 'x', 'X'};
    auto name = [&] {
        std::string n;
        const auto len = in.ConsumeIntegralInRange<int>(0, 4);
        for (int i = 0; i < len; ++i)
            n += alphabet[in.ConsumeIntegralInRange<int>(0, 7)];
        return n;
    };
    auto value = [&] {
        const auto len = in.ConsumeIntegralInRange<std::size_t>(0, 300);
        const char fill = static_cast<char>(in.ConsumeIntegral<std::uint8_t>());
        std::string v(len, fill);
        if (len > 0)
            v[0] = static_cast<char>(in.ConsumeIntegral<std::uint8_t>());
        return v;
    };
    int ops = 0;
    while (in.remaining_bytes() > 0 && ops++ < 64) {
        switch (in.ConsumeIntegralInRange<int>(0, 7)) {
        case 0:
        case 1:
        case 2: {
            const std::string n = name(), v = value();
            trace += "set(" + fuzz::show(n) + "," + std::to_string(v.size()) + "B) ";
            h.set(n, v);
            m.set(n, v);
            break;
        }
        case 3: {
            const std::string n = name();
            trace += "erase(" + fuzz::show(n) + ") ";
            const bool got = h.erase(n);
            FUZZ_CHECK(target, got == m.erase(n), trace);
            break;
        }
        case 4: {
            const std::string n = name();
            const auto got = h.get(n);
            const auto* want = m.find(n);
            FUZZ_CHECK(target,
                       got.has_value() == (want != nullptr) && h.contains(n) == got.has_value(),
                       trace + "get(" + fuzz::show(n) + ")");
            if (want != nullptr)
                FUZZ_CHECK(target, *got == want->second, trace + "get(" + fuzz::show(n) + ")");
            break;
        }
        case 5: {
            trace += "copy ";
            bulwark::header_map c(h);
            FUZZ_CHECK(target, c == h, trace);
            bulwark::header_map d;
            d.set("zz", "1");
            d = c;
            FUZZ_CHECK(target, d == h && d.size() == h.size(), trace);
            h = std::move(c);
            break;
        }
        case 6: {
            trace += "move ";
            bulwark::header_map moved(std::move(h));
            h = std::move(moved);
            break;
        }
        case 7:
            if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
                trace += "clear ";
                h.clear();
                m.entries.clear();
            }
            break;
        }
        if (!same(h, m, trace))
            return 0; // known defect, tolerated: the map no longer follows the model
    }
    return 0;
}
