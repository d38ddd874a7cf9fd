// The P2C pick decays latency estimates by table lookup (`ewma_decay_table`); it must agree with
// the direct formula `e^(−Δt/τ)` that `endpoint::peak_ewma_cost(now, tau)` uses.

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/balance/registry.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>

using namespace std::chrono_literals;

TEST_CASE("ewma_decay_table matches exp(-dt/tau) over the whole tick range",
          "[balance][p2c][decay]") {
    for (const bulwark::duration tau : {bulwark::duration{1ms}, bulwark::duration{10s},
                                        bulwark::duration{std::chrono::hours{24}}}) {
        const bulwark::ewma_decay_table table{tau};
        const double per_tick =
            static_cast<double>(std::uint64_t{1} << 20) / static_cast<double>(tau.count());
        for (std::uint64_t e = 0; e < (std::uint64_t{1} << 32); e = e * 3 + 1) {
            const auto ticks = static_cast<std::uint32_t>(e);
            const double want = std::exp(-per_tick * static_cast<double>(ticks));
            const double got = table(ticks);
            INFO("tau " << tau.count() << " ns, " << ticks << " ticks");
            CHECK(std::abs(got - want) <= 1e-12 * want + 1e-300); // a few ulp per unit of exponent
        }
    }
}

TEST_CASE("peak_ewma_cost with the snapshot's table equals the direct formula",
          "[balance][p2c][decay]") {
    bulwark::registry reg({{.address = "a:1"}, {.address = "b:1"}});
    const bulwark::time_point t0{100s};
    const auto r = reg.read();
    const bulwark::endpoint* a = r->ready()[0];
    const bulwark::endpoint* b = r->ready()[1];
    a->observe_latency(3ms, t0, r->ewma_decay());
    a->begin_request();
    // b has no history: its cost is 0 while idle and the penalty once busy, by either form.
    for (const bulwark::duration later :
         {bulwark::duration{0}, bulwark::duration{1ms}, bulwark::duration{700ms},
          bulwark::duration{90s}, bulwark::duration{std::chrono::hours{2}}}) {
        const bulwark::time_point now = t0 + later;
        const double direct = a->peak_ewma_cost(now, r->ewma_decay());
        const double tabled = a->peak_ewma_cost(now, r->decay_table());
        CHECK(tabled == Approx(direct).epsilon(1e-12));
        CHECK(b->peak_ewma_cost(now, r->decay_table()) == b->peak_ewma_cost(now, r->ewma_decay()));
    }
    // A reading from before the last update does not decay (as the direct form).
    CHECK(a->peak_ewma_cost(t0 - 1s, r->decay_table()) ==
          a->peak_ewma_cost(t0 - 1s, r->ewma_decay()));
    a->end_request();
}
