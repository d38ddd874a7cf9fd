#include <bulwark/pipeline.hpp>
#include <bulwark/runtime/asio_scheduler.hpp>

#include "support/suspension_probe.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <thread>

using namespace std::chrono_literals;
using test_support::current_thread;

TEST_CASE("asio_scheduler resumes sleepers on the io_context thread",
          "[runtime][asio][concurrency]") {
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    std::jthread runner([&] { io.run(); });
    bulwark::asio_scheduler sched{io};

    // The one io thread waits until the sleep has suspended, so its timer cannot fire early and
    // let the coroutine continue inline on this thread (a loaded machine allows that).
    test_support::suspension_flag suspended;
    boost::asio::post(io, [&] { suspended.wait(); });
    std::thread::id resumed_on;
    auto sleeper = [&]() -> bulwark::task<bool> {
        bool elapsed =
            co_await test_support::probe(suspended, [&] { return sched.async_sleep_for(1ms, {}); });
        resumed_on = current_thread();
        co_return elapsed;
    };
    CHECK(bulwark::sync_wait(sleeper()));
    CHECK(resumed_on == runner.get_id());

    std::stop_source stop;
    auto cancelled = [&]() -> bulwark::task<bool> {
        co_return co_await sched.async_sleep_for(1h, stop.get_token());
    };
    std::jthread stopper([&] {
        std::this_thread::sleep_for(2ms);
        stop.request_stop();
    });
    CHECK_FALSE(bulwark::sync_wait(cancelled()));

    // As the clock of anything that takes an any_clock.
    bulwark::any_clock clock{sched.service()};
    auto via_any = [&]() -> bulwark::task<bool> {
        co_return co_await clock.async_sleep_for(1ms, {});
    };
    CHECK(bulwark::sync_wait(via_any()));
    guard.reset();
}
