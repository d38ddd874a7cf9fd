// The coroutine driver on a user's Asio executor: an io_context run by four threads, every
// policy's clock an asio_scheduler on it, calls started with start_on. Each continuation is
// recorded and must be on one of the io_context's threads.
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>
#include <bulwark/runtime/asio_scheduler.hpp>
#include <bulwark/runtime/steady_clock.hpp>
#include <bulwark/runtime/when.hpp>

#include "support/suspension_probe.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using test_support::current_thread;

/// An io_context run by `n` threads until destroyed.
struct io_pool {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{
        io.get_executor()};
    std::vector<std::thread> threads;

    explicit io_pool(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i)
            threads.emplace_back([this] { io.run(); });
    }
    ~io_pool() {
        guard.reset();
        for (std::thread& t : threads)
            t.join();
    }
    bool is_io_thread(std::thread::id id) const {
        return std::any_of(threads.begin(), threads.end(),
                           [&](const std::thread& t) { return t.get_id() == id; });
    }
};

/// Thread ids recorded from many threads.
struct thread_log {
    std::mutex mutex;
    std::vector<std::thread::id> ids;
    void here() {
        std::lock_guard lock(mutex);
        ids.push_back(current_thread());
    }
};

} // namespace

TEST_CASE("async_execute on an io_context with four threads continues only on its threads",
          "[runtime][asio][executor][async]") {
    io_pool pool{4};
    bulwark::asio_scheduler sched{pool.io};
    thread_log log;

    // Every policy sleeps on the io_context: retry's backoff and the per-attempt timeout's timer.
    bulwark::pipeline client{bulwark::retry{.max_attempts = 3,
                                            .backoff = bulwark::constant_backoff{.delay = 1ms},
                                            .clock = sched.clock()},
                             bulwark::timeout{.per_attempt = 100ms, .clock = sched.clock()}};

    // Attempt 1 hangs until the per-attempt timeout stops it; attempt 2 fails after 1 ms of
    // "I/O"; attempt 3 answers after 1 ms. The I/O is a sleep on the io_context, as a real Asio
    // socket read would complete there.
    auto call = [&]() -> bulwark::task<int> {
        std::atomic<int> attempts{0};
        const int v = co_await client.async_execute(
            [&](bulwark::context& ctx) -> bulwark::task<bulwark::outcome<int>> {
                log.here(); // where the retry continued after its backoff
                const int attempt = ++attempts;
                const bool elapsed = co_await sched.async_sleep_for(
                    attempt == 1 ? bulwark::duration{1h} : bulwark::duration{1ms},
                    ctx.stop_token());
                log.here(); // where the timer (or the stop) resumed the operation
                if (!elapsed)
                    co_return bulwark::errc::cancelled;
                if (attempt == 2)
                    co_return bulwark::errc::rejected;
                co_return 42;
            });
        log.here(); // where the pipeline's own continuation ran
        co_return v;
    };

    constexpr std::size_t calls = 16;
    std::vector<std::future<int>> results;
    for (std::size_t i = 0; i < calls; ++i)
        results.push_back(
            bulwark::start_on(pool.io.get_executor(), call(), boost::asio::use_future));
    for (std::future<int>& r : results)
        CHECK(r.get() == 42);

    std::lock_guard lock(log.mutex);
    CHECK(log.ids.size() == calls * 7); // 3 attempts x (start + resume) + the caller's
    std::size_t foreign = 0;
    for (std::thread::id id : log.ids)
        if (!pool.is_io_thread(id))
            ++foreign;
    CHECK(foreign == 0);
}

TEST_CASE("a sleep on the asio_scheduler stopped from another thread resumes on the executor",
          "[runtime][asio][executor][async]") {
    io_pool pool{2};
    bulwark::asio_scheduler sched{pool.io};
    std::stop_source stop;
    std::atomic<bool> sleeping{false};
    std::thread::id resumed_on;
    auto sleeper = [&]() -> bulwark::task<bool> {
        auto sleep = sched.async_sleep_for(1h, stop.get_token());
        sleeping.store(true);
        const bool elapsed = co_await sleep;
        resumed_on = current_thread();
        co_return elapsed;
    };
    auto done = bulwark::start_on(pool.io.get_executor(), sleeper(), boost::asio::use_future);
    while (!sleeping.load())
        std::this_thread::yield();
    stop.request_stop(); // on this thread, which is not one of the io_context's
    CHECK_FALSE(done.get());
    CHECK(pool.is_io_thread(resumed_on));
}

TEST_CASE("the default steady_clock continues a coroutine on bulwark's timer thread",
          "[runtime][executor][async]") {
    auto& timers = bulwark::detail::timer_thread::instance();
    test_support::suspension_flag suspended;
    test_support::timer_blocker blocker{suspended, timers.now()}; // fires before the sleep's
    timers.schedule(&blocker);

    std::thread::id after_sleep;
    bool elapsed = false;
    auto work = [&]() -> bulwark::task<void> {
        elapsed = co_await test_support::probe(
            suspended, [&] { return bulwark::steady_clock::async_sleep_for(1ms, {}); });
        after_sleep = current_thread();
    };
    bulwark::sync_wait(work());
    CHECK(elapsed);
    CHECK(after_sleep != std::thread::id{});
    CHECK(after_sleep != current_thread()); // bulwark's shared timer thread
}

namespace {
/// Resumes the awaiting coroutine on a new thread the test owns (a transport's own thread).
struct on_foreign_thread {
    std::thread* thread;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const {
        // The thread resumes only once it is stored: the test joins it after the call ends.
        std::promise<void> stored;
        *thread = std::thread([h, go = stored.get_future()] {
            go.wait();
            h.resume();
        });
        stored.set_value();
    }
    void await_resume() const noexcept {}
};
} // namespace

TEST_CASE("resume_on brings a coroutine back from a foreign thread to the executor",
          "[runtime][asio][executor][async]") {
    io_pool pool{2};
    std::thread foreign;
    std::thread::id after_foreign, after_resume_on;
    auto work = [&]() -> bulwark::task<void> {
        co_await on_foreign_thread{&foreign};
        after_foreign = current_thread();
        co_await bulwark::resume_on(pool.io.get_executor());
        after_resume_on = current_thread();
    };
    bulwark::start_on(pool.io.get_executor(), work(), boost::asio::use_future).get();
    foreign.join(); // its post() into the io_context has returned: the pool may go
    CHECK_FALSE(pool.is_io_thread(after_foreign));
    CHECK(pool.is_io_thread(after_resume_on));
}

TEST_CASE("start_on delivers a task's exception and calls a plain callback on the executor",
          "[runtime][asio][executor][async]") {
    io_pool pool{2};
    auto failing = []() -> bulwark::task<int> {
        throw std::runtime_error("boom");
        co_return 0;
    };
    // The message is read on the io thread and the exception released there: ThreadSanitizer
    // cannot see libstdc++'s reference count of an exception shared between threads.
    std::promise<std::string> message;
    bulwark::start_on(pool.io.get_executor(), failing(), [&](std::exception_ptr e, int v) {
        std::string text = "no exception, value " + std::to_string(v);
        try {
            if (e)
                std::rethrow_exception(std::exchange(e, nullptr));
        } catch (const std::exception& ex) {
            text = ex.what();
        }
        message.set_value(text);
    });
    CHECK(message.get_future().get() == "boom");

    std::promise<std::thread::id> called_on;
    std::exception_ptr error = std::make_exception_ptr(std::logic_error("not called"));
    auto nothing = []() -> bulwark::task<void> { co_return; };
    bulwark::start_on(pool.io.get_executor(), nothing(), [&](std::exception_ptr e) {
        error = e;
        called_on.set_value(current_thread());
    });
    CHECK(pool.is_io_thread(called_on.get_future().get()));
    CHECK_FALSE(error);
}

TEST_CASE("when_all and when_any on the io_context continue on its threads",
          "[runtime][asio][executor][when][async]") {
    io_pool pool{3};
    bulwark::asio_scheduler sched{pool.io};
    auto after = [&](bulwark::duration d, int v, std::stop_token st) -> bulwark::task<int> {
        const bool elapsed = co_await sched.async_sleep_for(d, std::move(st));
        co_return elapsed ? v : -v;
    };
    std::thread::id all_on, any_on;
    std::size_t winner = 99;
    auto both = [&]() -> bulwark::task<int> {
        auto [a, b] = co_await bulwark::when_all(after(2ms, 1, {}), after(1ms, 2, {}));
        all_on = current_thread();
        std::stop_source losers;
        auto first = co_await bulwark::when_any(losers, after(1h, 10, losers.get_token()),
                                                after(1ms, 20, losers.get_token()));
        any_on = current_thread();
        winner = first.index();
        co_return a + b + std::get<1>(first);
    };
    CHECK(bulwark::start_on(pool.io.get_executor(), both(), boost::asio::use_future).get() == 23);
    CHECK(winner == 1);
    CHECK(pool.is_io_thread(all_on));
    CHECK(pool.is_io_thread(any_on));
}
