#pragma once
// Shared by the deterministic simulations: sizes and seeds from the environment, a seeded
// generator, and the one line that reproduces a failing seed.
//
//   BULWARK_SIM_CALLS  logical calls (or messages) in all (CI default below)
//   BULWARK_SIM_SEED   run only this seed (what a failure prints)

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sim {

inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
        return fallback;
    return std::strtoull(v, nullptr, 10);
}

/// The seed to run alone, if BULWARK_SIM_SEED is set.
inline bool single_seed(std::uint64_t& seed) {
    const char* v = std::getenv("BULWARK_SIM_SEED");
    if (v == nullptr || *v == '\0')
        return false;
    seed = std::strtoull(v, nullptr, 10);
    return true;
}

/// splitmix64: small, fast, and the same sequence on every platform (std distributions are not).
struct rng {
    std::uint64_t s;
    explicit rng(std::uint64_t seed)
        : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, n).
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
    /// Uniform in [lo, hi].
    std::int64_t between(std::int64_t lo, std::int64_t hi) {
        return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo + 1)));
    }
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    bool chance(double p) { return unit() < p; }
};

/// The command that reruns one seed of a simulation binary.
inline std::string reproduce(const char* binary, const char* tags, std::uint64_t seed,
                             std::uint64_t per_seed, const char* size_var = "BULWARK_SIM_CALLS") {
    return "BULWARK_SIM_SEED=" + std::to_string(seed) + " " + size_var + "=" +
           std::to_string(per_seed) + " build/<preset>/tests/" + binary + " \"" + tags + "\"";
}

} // namespace sim
