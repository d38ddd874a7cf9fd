// The concept laws, run against the models that core provides. Policies from other folders run
// them in their own tests (tests/policy/laws.cpp, ...).
#include "support/laws.hpp"

#include <bulwark/core/asio_scheduler.hpp>

#include <boost/asio/executor_work_guard.hpp>

#include <thread>

TEST_CASE("pass_through obeys the policy laws", "[core][laws]") {
    bulwark::test::check_policy_laws([] { return bulwark::pass_through{}; });
}

TEST_CASE("manual_clock obeys the scheduler laws", "[core][laws]") {
    bulwark::test::check_scheduler_laws(bulwark::manual_clock{}, false);
}

TEST_CASE("steady_clock and any_clock obey the scheduler laws", "[core][laws][concurrency]") {
    bulwark::test::check_scheduler_laws(bulwark::steady_clock{}, true);
    bulwark::test::check_scheduler_laws(bulwark::any_clock{}, true);
    bulwark::test::check_scheduler_laws(bulwark::any_clock{bulwark::manual_clock{}}, false);
}

TEST_CASE("asio_scheduler obeys the scheduler laws", "[core][laws][asio][concurrency]") {
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    std::jthread runner([&] { io.run(); });
    bulwark::test::check_scheduler_laws(bulwark::asio_scheduler{io}, true);
    guard.reset();
}
