// The timeout requests stop on expiry by default, on both drivers, without allocating; the
// timer entry lives in the caller's frame and is gone (or fired and acknowledged) before the
// frame returns.
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>
#include <bulwark/runtime/detail/expiry_service.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// A blocking operation that waits on its stop token only (no deadline): it returns early only
/// if someone requests stop. `waiting` is set under `m` just before the wait releases `m`, so a
/// thread that sees `waiting` and then locks `m` knows the operation waits (or has returned).
struct token_waiter {
    std::mutex m;
    std::condition_variable_any cv;
    bool waiting = false;
    std::atomic<int> stopped{0};

    bulwark::outcome<int> operator()(bulwark::context& ctx) {
        std::unique_lock lock(m);
        waiting = true;
        const bool woken = cv.wait(lock, ctx.stop_token(), [] { return false; });
        waiting = false;
        if (!woken && ctx.stop_requested()) {
            stopped.fetch_add(1);
            return bulwark::errc::cancelled;
        }
        return 1;
    }

    /// Blocks until the operation provably waits.
    void await_waiting() {
        for (;;) {
            {
                std::lock_guard lock(m);
                if (waiting)
                    return;
            }
            std::this_thread::yield();
        }
    }
};

/// An awaitable that suspends until its stop token is stopped (then resumes the coroutine).
/// Awaited as a named object: its callback outlives the resumption it makes.
struct until_stopped {
    std::stop_token token;
    struct resume {
        std::coroutine_handle<> h;
        void operator()() const noexcept { h.resume(); }
    };
    std::optional<std::stop_callback<resume>> cb{};
    bool await_ready() const noexcept { return token.stop_requested(); }
    void await_suspend(std::coroutine_handle<> h) { cb.emplace(token, resume{h}); }
    void await_resume() noexcept {}
};

} // namespace

TEST_CASE("sync timeout requests stop by default: a wait on the token returns at the limit",
          "[policy][timeout][stop][concurrency]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{bulwark::timeout{.total = 300ms, .clock = clock}};
    token_waiter op;
    bulwark::context ctx;
    std::optional<bulwark::outcome<int>> out;
    std::thread caller([&] { out.emplace(p.try_execute(std::ref(op), ctx)); });

    op.await_waiting();                   // the operation waits on its token ...
    REQUIRE(clock.pending_timers() == 1); // ... and the timeout's entry is armed
    clock.advance(299ms);                 // not yet
    CHECK(op.stopped.load() == 0);
    clock.advance(1ms); // the limit passes: stop is requested
    caller.join();

    REQUIRE(out);
    CHECK(out->code() == bulwark::errc::timeout);
    CHECK(op.stopped.load() == 1);
    CHECK_FALSE(ctx.stop_requested()); // the timeout's scope was stopped, not the caller's
    CHECK(clock.pending_timers() == 0);
}

TEST_CASE("async timeout requests stop: an awaited wait on the token returns at the limit",
          "[policy][timeout][stop][async]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{bulwark::timeout{.total = 300ms, .clock = clock}};
    bool waiting = false;
    bool stopped = false;
    bulwark::context ctx;
    auto running = bulwark::spawn(p.async_try_execute(
        [&](bulwark::context& c) -> bulwark::task<bulwark::outcome<int>> {
            waiting = true;
            // A named awaiter (g++ 12 mishandles the lifetime of a temporary awaiter that owns
            // a stop_callback resumed from inside that callback).
            until_stopped wait{c.stop_token()};
            co_await wait;
            stopped = c.stop_requested();
            co_return bulwark::errc::cancelled;
        },
        ctx));
    REQUIRE(waiting); // the operation is suspended on its token
    REQUIRE_FALSE(running.done());
    REQUIRE(clock.pending_timers() == 1); // the race's timer
    clock.advance(300ms);
    REQUIRE(running.done());
    CHECK(stopped);
    CHECK(running.get().code() == bulwark::errc::timeout);
    CHECK_FALSE(ctx.stop_requested());
}

TEST_CASE("tighten_deadline_only: no timer, no stop; the deadline alone judges the call",
          "[policy][timeout][stop]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{
        bulwark::timeout{.total = 300ms,
                         .clock = clock,
                         .on_expiry = bulwark::timeout_expiry::tighten_deadline_only}};
    std::size_t armed = 99;
    bool stop_seen = true;
    auto out = p.try_execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
        armed = clock.pending_timers();
        clock.advance(1s); // the limit passes while the operation runs
        stop_seen = ctx.stop_requested();
        return bulwark::errc::transport_error;
    });
    CHECK(armed == 0);
    CHECK_FALSE(stop_seen);
    CHECK(out.code() == bulwark::errc::timeout); // judged by the clock afterwards
}

TEST_CASE("a per-attempt timeout stops its attempt only: the next attempt starts unstopped",
          "[policy][timeout][stop]") {
    bulwark::manual_clock clock;
    bulwark::pipeline p{bulwark::retry{.max_attempts = 2,
                                       .backoff = bulwark::constant_backoff{.delay = 0ms},
                                       .clock = clock},
                        bulwark::timeout{.per_attempt = 300ms, .clock = clock}};
    std::vector<bool> stop_at_start, stop_at_end;
    bulwark::context ctx;
    auto out = p.try_execute(
        [&](bulwark::context& c) -> bulwark::outcome<int> {
            stop_at_start.push_back(c.stop_requested());
            if (c.attempt() == 1) {
                clock.advance(1s); // fires the attempt's timer on this thread
                stop_at_end.push_back(c.stop_requested());
                return bulwark::errc::transport_error;
            }
            stop_at_end.push_back(c.stop_requested());
            return 5;
        },
        ctx);
    REQUIRE(out.has_value());
    CHECK(*out == 5);
    CHECK(stop_at_start == std::vector<bool>{false, false});
    CHECK(stop_at_end == std::vector<bool>{true, false});
    CHECK_FALSE(ctx.stop_requested());
    CHECK(clock.pending_timers() == 0);
}

TEST_CASE("a stop request on the caller's context reaches the token inside a timeout's scope",
          "[policy][timeout][stop][concurrency]") {
    bulwark::pipeline p{bulwark::timeout{.total = 1h}};
    token_waiter op;
    bulwark::context ctx;
    std::optional<bulwark::outcome<int>> out;
    std::thread caller([&] { out.emplace(p.try_execute(std::ref(op), ctx)); });
    op.await_waiting();
    ctx.request_stop(); // from another thread, as the caller would
    caller.join();
    REQUIRE(out);
    CHECK(out->code() == bulwark::errc::cancelled); // not a timeout: the limit has not passed
    CHECK(op.stopped.load() == 1);
}

TEST_CASE("sync timeout on real time interrupts a stop-aware wait by default",
          "[policy][timeout][stop][concurrency]") {
    bulwark::pipeline p{bulwark::total_timeout{.limit = 20ms}};
    token_waiter op; // waits 'forever' unless stopped
    auto out = p.try_execute(std::ref(op));
    CHECK(out.code() == bulwark::errc::timeout);
    CHECK(op.stopped.load() == 1);
    CHECK(bulwark::detail::expiry_service::instance().armed() == 0);
}

TEST_CASE("the stopping timeout's success path allocates nothing on real time",
          "[policy][timeout][stop][alloc]") {
    if (!bulwark::test::alloc_counting_enabled())
        return;
    bulwark::pipeline p{bulwark::timeout{.total = 2s}, bulwark::timeout{.per_attempt = 1s}};
    bulwark::context ctx;
    p.execute([] { return 1; }, ctx); // warm-up: this thread's lane is made once
    bulwark::test::alloc_scope scope;
    int sum = 0;
    for (int i = 0; i < 1000; ++i)
        sum += p.execute([i] { return i % 2; }, ctx);
    CHECK(sum == 500);
    CHECK(scope.count() == 0);
}

TEST_CASE("timeouts nested deeper than a lane fall back to the timer thread and still stop",
          "[policy][timeout][stop][concurrency]") {
    // 10 nested pipelines, one stopping timeout each: the innermost ones exceed the lane's 8
    // slots; the innermost limit is the shortest and must still interrupt the wait.
    token_waiter op;
    std::function<bulwark::outcome<int>(bulwark::context&, int)> level =
        [&](bulwark::context& ctx, int depth) -> bulwark::outcome<int> {
        if (depth == 10)
            return op(ctx);
        bulwark::pipeline p{bulwark::total_timeout{.limit = depth == 9 ? 5ms : 1h}};
        return p.try_execute([&](bulwark::context& c) { return level(c, depth + 1); }, ctx);
    };
    bulwark::context ctx;
    auto out = level(ctx, 0);
    CHECK(out.code() == bulwark::errc::timeout);
    CHECK(op.stopped.load() == 1);
    CHECK(bulwark::detail::expiry_service::instance().armed() == 0);
}

TEST_CASE("nested stopping timeouts of one call arm one entry when the outer deadline is the "
          "earlier one, and both stop the wait on the right scope",
          "[policy][timeout][stop][concurrency]") {
    auto& service = bulwark::detail::expiry_service::instance();
    const auto no_delay = bulwark::constant_backoff{.delay = 0ms};
    SECTION("outer total earlier: the attempt's timeout is covered, the total's expiry stops it") {
        bulwark::pipeline p{bulwark::timeout{.total = 20ms},
                            bulwark::retry{.max_attempts = 2, .backoff = no_delay},
                            bulwark::timeout{.per_attempt = 1h}};
        token_waiter op;
        std::size_t armed_inside = 0;
        bulwark::context ctx;
        auto out = p.try_execute(
            [&](bulwark::context& c) {
                armed_inside = service.armed();
                return op(c);
            },
            ctx);
        CHECK(armed_inside == 1); // one arm for the two timeouts
        CHECK(out.code() == bulwark::errc::timeout);
        CHECK(op.stopped.load() == 1); // not retried: the total deadline has passed
        CHECK_FALSE(ctx.stop_requested());
        CHECK(service.armed() == 0);
    }
    SECTION("attempt timeout earlier: both are armed, the attempt's expiry stops only the "
            "attempt") {
        bulwark::pipeline p{bulwark::timeout{.total = 1h},
                            bulwark::retry{.max_attempts = 2, .backoff = no_delay},
                            bulwark::timeout{.per_attempt = 20ms}};
        token_waiter op;
        std::vector<std::size_t> armed_inside;
        std::vector<bool> stopped_at_start;
        bulwark::context ctx;
        auto out = p.try_execute(
            [&](bulwark::context& c) -> bulwark::outcome<int> {
                armed_inside.push_back(service.armed());
                stopped_at_start.push_back(c.stop_requested());
                if (c.attempt() == 2)
                    return 7; // the retry after the attempt's expiry starts unstopped
                return op(c);
            },
            ctx);
        CHECK(armed_inside == std::vector<std::size_t>{2, 2});
        CHECK(stopped_at_start == std::vector<bool>{false, false});
        REQUIRE(out.has_value());
        CHECK(*out == 7);
        CHECK(op.stopped.load() == 1);
        CHECK_FALSE(ctx.stop_requested());
        CHECK(service.armed() == 0);
    }
    SECTION("separate calls nested on one thread never share an entry") {
        // The inner pipeline runs on a context of its own: the outer entry (an earlier
        // deadline) cannot stop it, so the inner timeout arms its own entry.
        bulwark::pipeline outer{bulwark::timeout{.total = 1h}};
        bulwark::pipeline inner{bulwark::timeout{.total = 2h}};
        std::size_t armed_inside = 0;
        auto out = outer.try_execute([&](bulwark::context&) {
            bulwark::context own;
            return inner.try_execute(
                [&](bulwark::context&) -> bulwark::outcome<int> {
                    armed_inside = service.armed();
                    return 1;
                },
                own);
        });
        CHECK(out.has_value());
        CHECK(armed_inside == 2);
        CHECK(service.armed() == 0);
    }
}

TEST_CASE("expiry racing the caller's return: entries are unlinked or acknowledged before the "
          "frame dies",
          "[policy][timeout][stop][concurrency]") {
    // Limits around the time the operation takes, so the timer fires at every point of the
    // caller's return path: before, during and after the operation ends. Under TSan a frame
    // touched after its return, or an unacknowledged entry, is a reported race (or a crash).
    constexpr int threads = 3;
    constexpr int calls = 3000;
    std::atomic<int> timed_out{0}, succeeded{0}, bad{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            std::minstd_rand rng(static_cast<std::uint32_t>(t + 1));
            std::uniform_int_distribution<int> us(0, 60);
            for (int i = 0; i < calls; ++i) {
                const auto limit = std::chrono::microseconds(us(rng) + 1);
                const auto work = std::chrono::microseconds(us(rng));
                bulwark::pipeline p{bulwark::timeout{.total = 1s},
                                    bulwark::timeout{.per_attempt = limit}};
                auto out = p.try_execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
                    const auto end = std::chrono::steady_clock::now() + work;
                    while (std::chrono::steady_clock::now() < end)
                        if (ctx.stop_requested())
                            return bulwark::errc::cancelled;
                    return 1;
                });
                if (out.has_value())
                    succeeded.fetch_add(1);
                else if (out.code() == bulwark::errc::timeout)
                    timed_out.fetch_add(1);
                else
                    bad.fetch_add(1);
            }
        });
    for (auto& th : pool)
        th.join();
    CHECK(bad.load() == 0);
    CHECK(succeeded.load() + timed_out.load() == threads * calls);
    CHECK(bulwark::detail::expiry_service::instance().armed() == 0);
    INFO("timed out: " << timed_out.load() << ", succeeded: " << succeeded.load());
    CHECK(succeeded.load() > 0);
}
