#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/observe/prometheus.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/retry.hpp>

#include "observe/exposition.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

using namespace bulwark;
using namespace std::chrono_literals;

namespace {

/// Runs `promtool check metrics` on `text`; returns its exit code and output, or nullopt when
/// promtool is not installed.
std::optional<std::pair<int, std::string>> promtool_check(const std::string& text) {
    if (std::system("command -v promtool > /dev/null 2>&1") != 0)
        return std::nullopt;
    auto dir = std::filesystem::temp_directory_path();
    auto in = dir / ("bulwark_metrics_" + std::to_string(::getpid()) + ".txt");
    auto out = dir / ("bulwark_promtool_" + std::to_string(::getpid()) + ".txt");
    std::ofstream(in) << text;
    const std::string cmd =
        "promtool check metrics < " + in.string() + " > " + out.string() + " 2>&1";
    int rc = std::system(cmd.c_str());
    std::stringstream ss;
    ss << std::ifstream(out).rdbuf();
    std::filesystem::remove(in);
    std::filesystem::remove(out);
    return std::pair{WEXITSTATUS(rc), ss.str()};
}

using bulwark::test::samples;

/// A scripted run: known numbers of each event on two series.
void scripted_run(metrics_registry& reg) {
    auto retry = reg.listener({.pipeline = "checkout", .policy = "retry"}, metric_group::retry);
    auto breaker =
        reg.listener({.pipeline = "checkout", .policy = "payments"}, metric_group::breaker);
    auto channel = reg.listener({.topic = "orders.created"});
    auto other = reg.listener({.pipeline = "search \"v2\"\n", .policy = "back\\slash"});
    for (int i = 0; i < 7; ++i)
        emit(retry, events::retry_completed{.attempts = 1, .succeeded = true});
    for (int i = 0; i < 2; ++i) {
        emit(retry, events::retry_attempt{.attempt = 1, .delay = 20ms});
        emit(retry, events::retry_completed{.attempts = 2, .succeeded = true});
    }
    emit(retry, events::retry_attempt{.attempt = 1, .delay = 20ms});
    emit(retry, events::retry_attempt{.attempt = 2, .delay = 40ms});
    emit(retry, events::retry_give_up{.why = retry_stop::attempts_exhausted, .attempt = 3});
    emit(retry, events::retry_completed{.attempts = 3, .succeeded = false});
    for (int i = 0; i < 5; ++i)
        emit(breaker, events::breaker_call{.kind = events::call_kind::successful});
    for (int i = 0; i < 5; ++i)
        emit(breaker, events::breaker_call{.kind = events::call_kind::failed});
    emit(breaker, events::breaker_state_changed{.from = breaker_state::closed,
                                                .to = breaker_state::open,
                                                .failure_rate = 0.5,
                                                .calls = 10});
    for (int i = 0; i < 4; ++i)
        emit(breaker, events::breaker_rejected{.state = breaker_state::open});
    emit(channel, events::channel_published{});
    emit(channel, events::channel_published{});
    emit(channel, events::channel_delivered{});
    emit(channel, events::channel_nacked{});
    emit(channel, events::channel_dead_lettered{.kind = dead_letter_kind::max_deliveries});
    emit(other, events::bulkhead_waited{.waited = 3ms});
    emit(other, events::bulkhead_rejected{});
    emit(other, events::rate_limiter_queued{});
    emit(other, events::timeout_expired{.kind = events::timeout_kind::per_attempt});
    emit(other, events::hedge_winner{.index = 1});
    emit(other, events::balance_panic{.entered = true});
    emit(other, events::transport_connected{});
}

} // namespace

static_assert(static_cast<int>(breaker_state::half_open) == 2 &&
                  static_cast<int>(breaker_state::metrics_only) == 5,
              "detail::breaker_state_names follows breaker_state's order");
static_assert(static_cast<int>(retry_stop::budget_exhausted) == 5);
static_assert(static_cast<int>(dead_letter_kind::failed) == 2);

TEST_CASE("prometheus: the exposition of a scripted run has the known counts",
          "[observe][prometheus]") {
    metrics_registry reg;
    scripted_run(reg);
    const std::string text = to_prometheus(reg);
    INFO(text);
    auto m = samples(text);
    const std::string r = "{pipeline=\"checkout\",name=\"retry\"";
    CHECK(m["bulwark_retry_calls_total" + r + ",kind=\"successful_without_retry\"}"] == "7");
    CHECK(m["bulwark_retry_calls_total" + r + ",kind=\"successful_with_retry\"}"] == "2");
    CHECK(m["bulwark_retry_calls_total" + r + ",kind=\"failed_with_retry\"}"] == "1");
    CHECK(m["bulwark_retry_calls_total" + r + ",kind=\"failed_without_retry\"}"] == "0");
    CHECK(m["bulwark_retry_retries_total" + r + "}"] == "4");
    CHECK(m["bulwark_retry_give_ups_total" + r + ",reason=\"attempts_exhausted\"}"] == "1");
    CHECK(m["bulwark_retry_delay_seconds_bucket" + r + ",le=\"0.01\"}"] == "0");
    CHECK(m["bulwark_retry_delay_seconds_bucket" + r + ",le=\"0.025\"}"] == "3");
    CHECK(m["bulwark_retry_delay_seconds_bucket" + r + ",le=\"0.05\"}"] == "4");
    CHECK(m["bulwark_retry_delay_seconds_bucket" + r + ",le=\"+Inf\"}"] == "4");
    CHECK(m["bulwark_retry_delay_seconds_count" + r + "}"] == "4");
    CHECK(std::stod(m["bulwark_retry_delay_seconds_sum" + r + "}"]) == Approx(0.1));
    const std::string b = "{pipeline=\"checkout\",name=\"payments\"";
    CHECK(m["bulwark_breaker_state" + b + ",state=\"open\"}"] == "1");
    CHECK(m["bulwark_breaker_state" + b + ",state=\"closed\"}"] == "0");
    CHECK(m["bulwark_breaker_calls_total" + b + ",kind=\"failed\"}"] == "5");
    CHECK(m["bulwark_breaker_not_permitted_calls_total" + b + "}"] == "4");
    CHECK(m["bulwark_breaker_failure_ratio" + b + "}"] == "0.5");
    CHECK(m["bulwark_channel_published_total{topic=\"orders.created\"}"] == "2");
    CHECK(m["bulwark_channel_dead_lettered_total{topic=\"orders.created\",reason=\"max_"
            "deliveries\"}"] == "1");
    // label values are escaped
    const std::string o = "{pipeline=\"search \\\"v2\\\"\\n\",name=\"back\\\\slash\"";
    CHECK(m["bulwark_bulkhead_rejected_total" + o + "}"] == "1");
    CHECK(m["bulwark_hedge_wins_total" + o + ",winner=\"hedge\"}"] == "1");
    // the series that saw no retry event does not export retry families
    CHECK(m.count("bulwark_retry_retries_total{topic=\"orders.created\"}") == 0);
    // each family's HELP and TYPE appear once, TYPE before the samples
    CHECK(text.find("# TYPE bulwark_breaker_state gauge\nbulwark_breaker_state{") !=
          std::string::npos);
    CHECK(text.back() == '\n');
}

TEST_CASE("prometheus: promtool check metrics accepts the exposition",
          "[observe][prometheus][promtool]") {
    metrics_registry reg;
    scripted_run(reg);
    const std::string text = to_prometheus(reg);
    auto r = promtool_check(text);
    if (!r) {
        WARN("skipped: promtool not found (Debian package prometheus)");
        return;
    }
    INFO(text);
    INFO(r->second);
    REQUIRE(r->first == 0);
    REQUIRE(r->second.empty());
}

TEST_CASE("prometheus: promtool notices a broken exposition (the check is real)",
          "[observe][prometheus][promtool]") {
    auto r = promtool_check("# TYPE bulwark_calls counter\nbulwark_calls 1\n");
    if (!r) {
        WARN("skipped: promtool not found (Debian package prometheus)");
        return;
    }
    REQUIRE(r->first != 0);
}

TEST_CASE("prometheus_writer: escaping, values and name checks", "[observe][prometheus]") {
    std::string out;
    prometheus_writer w(out);
    w.family("x_seconds", "a \\ b\nc", "gauge");
    const prometheus_label l[] = {{"a", "q\"\\\n"}};
    w.sample("x_seconds", l, 0.25);
    w.sample("x_seconds", {}, std::numeric_limits<double>::infinity());
    w.sample("x_seconds", {}, std::nan(""));
    w.sample("x_seconds", {}, std::uint64_t{18446744073709551615ull});
    CHECK(out == "# HELP x_seconds a \\\\ b\\nc\n# TYPE x_seconds gauge\n"
                 "x_seconds{a=\"q\\\"\\\\\\n\"} 0.25\nx_seconds +Inf\nx_seconds NaN\n"
                 "x_seconds 18446744073709551615\n");
    CHECK_THROWS_WITH(w.family("1bad", "", "gauge"),
                      Catch::Contains("bulwark::prometheus_writer: metric name must be"));
    CHECK_THROWS_AS(prometheus_writer::check_name("a:b", false), invalid_argument_error);
    CHECK_NOTHROW(prometheus_writer::check_name("a:b", true));
}
