// A resilient HTTP client: three local HTTP servers (started here, on loopback) behind
// balance<p2c_peak_ewma> with a circuit breaker per endpoint, retry, a total and a per-attempt
// timeout, and the Beast HTTP transport. One server fails (503), one is slow. The program prints
// where the calls went and what the breakers did, and exits non-zero if a call hangs or a stated
// invariant fails. Needs the optional target bulwark::http.

#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/p2c.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/breaker_set.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/policy/timeout.hpp>
#include <bulwark/transport/http.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace net = boost::asio;
namespace http = boost::beast::http;

/// A tiny Beast server: answers every request after `delay` with `status` (one thread per
/// connection; the process exit ends them).
class local_server {
public:
    local_server(unsigned status, std::chrono::milliseconds delay)
        : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0})
        , status_(status)
        , delay_(delay) {
        std::thread([this] {
            for (;;) {
                net::ip::tcp::socket s(ioc_);
                acceptor_.accept(s);
                std::thread([this, s = std::move(s)]() mutable { serve(s); }).detach();
            }
        }).detach();
    }
    std::string address() const {
        return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }
    std::atomic<int> requests{0};

private:
    void serve(net::ip::tcp::socket& s) {
        boost::beast::flat_buffer buf;
        boost::system::error_code ec;
        for (;;) {
            http::request<http::string_body> req;
            http::read(s, buf, req, ec);
            if (ec)
                return;
            ++requests;
            std::this_thread::sleep_for(delay_);
            http::response<http::string_body> res{static_cast<http::status>(status_), 11};
            res.body() = "hello from " + address();
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            http::write(s, res, ec);
            if (ec)
                return;
        }
    }
    net::io_context ioc_;
    net::ip::tcp::acceptor acceptor_;
    unsigned status_;
    std::chrono::milliseconds delay_;
};

int main() {
    local_server healthy(200, 0ms), failing(503, 0ms), slow(200, 2000ms);
    const std::map<std::string, const char*> name{{healthy.address(), "healthy"},
                                                  {failing.address(), "failing"},
                                                  {slow.address(), "slow   "}};

    bulwark::registry reg{{.address = healthy.address()},
                          {.address = failing.address()},
                          {.address = slow.address()}};
    bulwark::breaker_set<std::string> breakers{
        {.consecutive_failures = 2, .open_for = 30s, .half_open_calls = 1}};
    bulwark::http_transport transport;
    auto client = bulwark::pipeline{
        bulwark::timeout{.total = 3s},
        bulwark::retry{.max_attempts = 3, .backoff = bulwark::constant_backoff{.delay = 1ms}},
        bulwark::balance_with_breakers<bulwark::p2c_peak_ewma>{reg, breakers},
        bulwark::timeout{.per_attempt = 200ms},
    };

    std::map<std::string, int> attempts;
    int ok = 0, failed = 0;
    for (int i = 0; i < 30; ++i) {
        bulwark::context ctx;
        ctx.headers().set(bulwark::header::correlation_id, "call-" + std::to_string(i));
        // Run each call on its own thread so a hang would be seen (it never should: the total
        // timeout bounds it).
        auto call = std::async(std::launch::async, [&] {
            return client.try_execute(
                [&](bulwark::context& c) {
                    ++attempts[c.endpoint()->address()];
                    return transport.send({.target = "/users/7"}, c);
                },
                ctx);
        });
        if (call.wait_for(10s) != std::future_status::ready) {
            std::printf("FAIL: call %d hung\n", i);
            std::fflush(stdout);
            std::_Exit(2);
        }
        auto res = call.get();
        if (res.has_value())
            ++ok;
        else
            ++failed;
    }

    std::printf("30 calls: %d succeeded, %d failed\n", ok, failed);
    std::printf("attempts per server (what retry and the balancer tried):\n");
    for (const auto& [addr, n] : attempts)
        std::printf("  %s %-16s %3d attempts, %3d requests seen by the server\n", name.at(addr),
                    addr.c_str(), n,
                    addr == healthy.address()   ? healthy.requests.load()
                    : addr == failing.address() ? failing.requests.load()
                                                : slow.requests.load());
    auto state = [](bulwark::breaker_state s) {
        return s == bulwark::breaker_state::open        ? "open"
               : s == bulwark::breaker_state::half_open ? "half-open"
                                                        : "closed";
    };
    std::printf("breakers:\n");
    for (const auto* s : {&healthy, &failing, &slow}) {
        auto& b = breakers[s->address()];
        std::printf("  %s %-9s rejected %lld turns\n", name.at(s->address()), state(b.state()),
                    static_cast<long long>(b.metrics().rejected));
    }
    std::printf("pool: %zu open connections, %zu idle\n", transport.open_connections(),
                transport.idle_connections());

    // Invariants this example states.
    bool good = true;
    auto expect = [&](bool cond, const char* what) {
        if (!cond) {
            std::printf("FAIL: %s\n", what);
            good = false;
        }
    };
    expect(ok == 30, "every call succeeds (retries route around the failing and slow servers)");
    expect(breakers[failing.address()].state() == bulwark::breaker_state::open,
           "the failing server's breaker is open");
    expect(breakers[healthy.address()].state() == bulwark::breaker_state::closed,
           "the healthy server's breaker is closed");
    expect(transport.open_connections() == transport.idle_connections(),
           "no connection is left in use");
    std::printf(good ? "all invariants hold\n" : "an invariant failed\n");
    std::fflush(stdout);
    std::_Exit(good ? 0 : 1); // the servers' detached threads end with the process
}
