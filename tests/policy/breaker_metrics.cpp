// breaker_metrics: windowed numbers reset when the breaker closes; lifetime counters never do.
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/testing/manual_clock.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

namespace {

/// One call through `b` that succeeds or fails.
bulwark::outcome<int> call(bulwark::circuit_breaker& b, bool ok) {
    auto p = bulwark::pipeline{std::ref(b)};
    return p.try_execute([&]() -> bulwark::outcome<int> {
        if (!ok)
            return bulwark::errc::transport_error;
        return 1;
    });
}

} // namespace

TEST_CASE("breaker lifetime counters keep counting when the windowed ones reset",
          "[policy][circuit_breaker][metrics]") {
    bulwark::manual_clock clock;
    bulwark::circuit_breaker cb{
        {.consecutive_failures = 2, .open_for = 1s, .half_open_calls = 1, .clock = clock}};

    // Two failures in a row: open (first trip).
    (void)call(cb, false);
    CHECK(cb.metrics().consecutive_failures == 1);
    (void)call(cb, false);
    auto m = cb.metrics();
    CHECK(m.state == bulwark::breaker_state::open);
    CHECK(m.trips == 1);
    CHECK(m.total_trips == 1);

    // Rejected while open.
    CHECK(call(cb, true).code() == bulwark::errc::circuit_open);
    CHECK(call(cb, true).code() == bulwark::errc::circuit_open);
    m = cb.metrics();
    CHECK(m.total_rejected == 2);
    CHECK(m.rejected == 2);

    // The half-open trial fails: open again (second trip).
    clock.advance(1s);
    (void)call(cb, false);
    m = cb.metrics();
    CHECK(m.state == bulwark::breaker_state::open);
    CHECK(m.trips == 2);
    CHECK(m.total_trips == 2);

    // The next trial succeeds: closed. The windowed numbers reset, the lifetime ones stay.
    clock.advance(1s);
    CHECK(call(cb, true).has_value());
    m = cb.metrics();
    CHECK(m.state == bulwark::breaker_state::closed);
    CHECK(m.trips == 0);
    CHECK(m.consecutive_failures == 0);
    CHECK(m.total_trips == 2);
    CHECK(m.total_rejected == 2);

    // A manual trip counts; a reset forgets `trips` but not `total_trips`; isolate() is no trip.
    cb.trip();
    CHECK(call(cb, true).code() == bulwark::errc::circuit_open);
    cb.reset();
    cb.isolate();
    CHECK(call(cb, true).code() == bulwark::errc::circuit_open);
    cb.reset();
    m = cb.metrics();
    CHECK(m.trips == 0);
    CHECK(m.total_trips == 3);
    CHECK(m.total_rejected == 4);
}

TEST_CASE("breaker metrics of a count window: the window empties on close",
          "[policy][circuit_breaker][metrics]") {
    bulwark::manual_clock clock;
    bulwark::circuit_breaker cb{{.window = bulwark::count_window{4},
                                 .failure_rate = 0.5,
                                 .minimum_calls = 4,
                                 .open_for = 1s,
                                 .half_open_calls = 1,
                                 .clock = clock}};
    (void)call(cb, true);
    (void)call(cb, false);
    auto m = cb.metrics();
    CHECK(m.window.calls == 2);
    CHECK(m.window.failures == 1);
    CHECK(m.failure_rate() == Approx(0.5));
    (void)call(cb, false);
    (void)call(cb, true); // 2 of 4 failed: open
    CHECK(cb.metrics().state == bulwark::breaker_state::open);
    clock.advance(1s);
    (void)call(cb, true); // the trial closes it
    m = cb.metrics();
    CHECK(m.state == bulwark::breaker_state::closed);
    CHECK(m.window.calls == 0);
    CHECK(m.total_trips == 1);
}
