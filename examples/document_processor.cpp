// The document processor (the Service Bus "processor" pattern): a queue of documents handled by 4
// concurrent handlers with explicit acks; a handler that throws is retried by redelivery, and a
// document that still fails on its 3rd delivery goes to the dead-letter queue with its reason.
// Processed documents are then stored through a resilient client that balances over 3 storage
// instances, one of which is failing: retry moves a failed call to another instance and a
// per-instance breaker stops sending to the failing one.
//
// With the HTTP part (bulwark::http) the storage instances are 3 Beast HTTP servers on loopback
// ports (the third answers 503) and the client sends `PUT /docs/<name>` through
// bulwark::http_transport; without it they are functions in this process. Invariants (exit 1 if
// broken): every document is either stored or dead-lettered (nothing lost, nothing twice), dead
// letters had exactly 3 deliveries, never more than 4 handlers ran at once, every store call
// succeeded despite the failing instance.
#include <bulwark/balance/balance.hpp>
#include <bulwark/balance/round_robin.hpp>
#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/breaker_set.hpp>
#include <bulwark/policy/circuit_breaker/endpoint_breakers.hpp>
#include <bulwark/policy/retry.hpp>
#if BULWARK_EXAMPLE_HTTP
#include <bulwark/transport/http.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

/// A document to process: `kind` decides how the (pretend) parser behaves.
struct document {
    [[maybe_unused]] static constexpr std::string_view subject = "docs.incoming";
    std::string name;
    std::string kind; // "ok", "flaky" (fails its first delivery), "corrupt" (always fails)
};
using doc_topics = bulwark::topics<document>;

int violations = 0;
void check(bool ok, const char* invariant) {
    if (!ok) {
        std::printf("INVARIANT VIOLATED: %s\n", invariant);
        ++violations;
    }
}

#if BULWARK_EXAMPLE_HTTP
namespace net = boost::asio;
namespace http = boost::beast::http;

/// A storage instance: a Beast HTTP server on 127.0.0.1 (a free port), one connection at a
/// time. `PUT /docs/<name>` answers 201 and counts the name; a failing instance answers 503.
class storage_server {
public:
    explicit storage_server(bool failing)
        : failing_(failing)
        , acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0})
        , thread_([this] { serve(); }) {}
    ~storage_server() {
        stop_ = true;
        boost::system::error_code ec;
        net::ip::tcp::socket wake(ioc_); // unblocks accept()
        wake.connect(acceptor_.local_endpoint(), ec);
        thread_.join();
    }
    storage_server(const storage_server&) = delete;
    storage_server& operator=(const storage_server&) = delete;

    std::string address() const {
        return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }
    std::map<std::string, int> stored() {
        std::lock_guard lock(m_);
        return stored_;
    }

private:
    void serve() {
        while (!stop_) {
            net::ip::tcp::socket s(ioc_);
            boost::system::error_code ec;
            acceptor_.accept(s, ec);
            if (ec || stop_)
                return;
            boost::beast::flat_buffer buf;
            http::request<http::string_body> req;
            http::read(s, buf, req, ec);
            if (ec)
                continue;
            http::response<http::string_body> res{
                failing_ ? http::status::service_unavailable : http::status::created, 11};
            if (!failing_) {
                std::lock_guard lock(m_);
                ++stored_[std::string(req.target().substr(6))]; // after "/docs/"
            }
            res.keep_alive(false);
            res.prepare_payload();
            http::write(s, res, ec);
            s.shutdown(net::ip::tcp::socket::shutdown_both, ec);
        }
    }

    bool failing_;
    std::mutex m_;
    std::map<std::string, int> stored_;
    net::io_context ioc_;
    net::ip::tcp::acceptor acceptor_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};
#endif

} // namespace

int main() {
    // ---- the storage service: 3 instances, the third fails every call ---------------------
#if BULWARK_EXAMPLE_HTTP
    storage_server server1(false), server2(false), server3(true);
    const std::string broken = server3.address();
    bulwark::registry storage{{.address = server1.address()},
                              {.address = server2.address()},
                              {.address = server3.address()}};
    std::printf("storage: 3 Beast HTTP servers on %s, %s, %s (the last answers 503)\n",
                server1.address().c_str(), server2.address().c_str(), broken.c_str());
    bulwark::http_transport http_client;
#else
    const std::string broken = "storage-3:9000";
    bulwark::registry storage{{.address = "storage-1:9000"},
                              {.address = "storage-2:9000"},
                              {.address = "storage-3:9000"}};
    std::printf("storage: 3 instances in process (storage-3 fails every call)\n");
#endif
    bulwark::breaker_set<std::string> breakers{{.consecutive_failures = 2, .open_for = 60s}};
    auto store_client = bulwark::pipeline{
        bulwark::retry{.max_attempts = 3,
                       .backoff = bulwark::exponential_backoff{.base = 1ms, .cap = 5ms}},
        bulwark::balance_with_breakers<bulwark::round_robin>{storage, breakers},
    };
    std::mutex store_mutex; // guards the counters below (the pipeline itself is thread-safe)
    std::map<std::string, int> stored_on;
    std::map<std::string, int> stored_times;
    int store_failures = 0;
    auto store = [&](const std::string& name) {
        auto r = store_client.try_execute([&](bulwark::context& ctx) -> bulwark::outcome<int> {
            const std::string& at = ctx.endpoint()->address();
#if BULWARK_EXAMPLE_HTTP
            const std::string target = "/docs/" + name;
            auto res = http_client.send({.method = bulwark::http_method::put,
                                         .target = target,
                                         .body = "%PDF-1.7 ...",
                                         .content_type = "application/pdf"},
                                        ctx);
            if (!res)
                return res.error();
            if (res->status != 201)
                return bulwark::errc::transport_error;
#else
            if (at == broken)
                return bulwark::errc::transport_error; // this instance is broken
#endif
            std::lock_guard lock(store_mutex);
            ++stored_on[at];
            ++stored_times[name];
            return 201;
        });
        if (!r.has_value()) {
            std::lock_guard lock(store_mutex);
            ++store_failures;
        }
        return r.has_value();
    };

    // ---- the processor: 4 concurrent handlers, at least once, dead letter after 3 -----------
    bulwark::dead_letter_box<bulwark::async_message<document>> dead;
    bulwark::async_bus<doc_topics> queue;
    std::atomic<int> running{0}, max_running{0}, handled{0};
    auto processor = queue.subscribe<document>(
        [&](bulwark::bus_delivery<document>& d) {
            const int now = ++running;
            int seen = max_running.load();
            while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
            }
            struct leave {
                std::atomic<int>& r;
                ~leave() { --r; }
            } guard{running};
            const document& doc = d.message().message;
            std::this_thread::sleep_for(2ms); // parsing takes a while: the handlers overlap
            if (doc.kind == "corrupt")
                throw std::runtime_error("parse error: not a PDF"); // fails every delivery
            if (doc.kind == "flaky" && d.attempt() == 1)
                throw std::runtime_error("OCR service busy"); // transient: the retry succeeds
            if (!store(doc.name))
                throw std::runtime_error("storage unavailable");
            ++handled;
            d.ack();
        },
        {.consumers = 4,
         .delivery = bulwark::at_least_once{.max_deliveries = 3},
         .dead_letter = dead.sink()});

    const int total = 40;
    std::set<std::string> corrupt, flaky;
    for (int i = 0; i < total; ++i) {
        std::string name = "doc-" + std::to_string(i) + ".pdf";
        std::string kind = i % 13 == 5 ? "corrupt" : i % 7 == 3 ? "flaky" : "ok";
        if (kind == "corrupt")
            corrupt.insert(name);
        if (kind == "flaky")
            flaky.insert(name);
        (void)queue.publish(document{name, kind});
    }
    queue.drain();

    const auto* ch = queue.channel<document>();
    std::printf("%d documents: %d stored, %zu dead-lettered; %llu redeliveries; at most %d "
                "handlers at once (limit 4)\n",
                total, handled.load(), dead.items().size(),
                static_cast<unsigned long long>(ch->redelivered()), max_running.load());
    for (const auto& letter : dead.items())
        std::printf("  dead letter: %s, \"%s\" after %u deliveries\n",
                    letter.message.message.name.c_str(), letter.reason.c_str(), letter.deliveries);
    std::printf("storage calls served per instance:");
    for (const auto& [at, n] : stored_on)
        std::printf(" %s=%d", at.c_str(), n);
    std::printf("; the failing instance's breaker %s, rejected %lld calls\n",
                breakers[broken].state() == bulwark::breaker_state::open ? "open" : "not open",
                static_cast<long long>(breakers[broken].metrics().rejected));

    check(handled.load() + static_cast<int>(dead.items().size()) == total,
          "every document is stored or dead-lettered (nothing lost)");
    check(std::all_of(stored_times.begin(), stored_times.end(),
                      [](const auto& kv) { return kv.second == 1; }),
          "no document is stored twice");
    check(dead.items().size() == corrupt.size(), "exactly the corrupt documents are dead-lettered");
    for (const auto& letter : dead.items())
        check(letter.deliveries == 3, "a dead letter had exactly 3 deliveries");
    check(max_running.load() <= 4, "never more than 4 handlers at once");
    check(store_failures == 0, "every store call succeeded despite the failing instance");
    check(!stored_on.contains(broken), "the failing instance stored nothing");
#if BULWARK_EXAMPLE_HTTP
    // What the servers themselves saw: each stored document arrived once, on a healthy server.
    std::map<std::string, int> seen = server1.stored();
    for (const auto& [doc, n] : server2.stored())
        seen[doc] += n;
    check(seen == stored_times, "the servers stored exactly what the client counted, once each");
    check(server3.stored().empty(), "the failing server stored nothing");
#endif
    if (violations != 0) {
        std::printf("%d invariant(s) violated\n", violations);
        return 1;
    }
    std::printf("all invariants held\n");
    return 0;
}
