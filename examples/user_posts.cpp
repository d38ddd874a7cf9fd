// Users and posts: a user service that shows a user's posts by calling the post service through
// retry + circuit breaker with a cached fallback while the post service is down; topic routing
// (`user.*`, `post.*`) over the in-process byte transport with a dead-letter path for a poison
// message; and command / query buses with an event-sourced user aggregate on
// `bulwark::eventsource` (memory event store, optimistic concurrency on the stream version)
// feeding a read-model projection.
//
// The post service: with the HTTP part (bulwark::http), a Beast HTTP server on a loopback port
// called through bulwark::http_transport; without it, a function in this process. Invariants
// (exit 1 if broken): the user page never fails while the post service is down (cached posts are
// served), the breaker opens and closes again, each topic handler sees only its subjects, the
// poison message is dead-lettered with its reason, the conflicting write is refused and wins on
// a reload, and the read model matches the aggregates.
#include <bulwark/channel/bus.hpp>
#include <bulwark/channel/cqrs.hpp>
#include <bulwark/eventsource/aggregate.hpp>
#include <bulwark/eventsource/memory_store.hpp>
#include <bulwark/eventsource/projection.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/fallback.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/transport/inproc.hpp>
#if BULWARK_EXAMPLE_HTTP
#include <bulwark/transport/http.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <thread>
#endif

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

int violations = 0;
void check(bool ok, const char* invariant) {
    if (!ok) {
        std::printf("INVARIANT VIOLATED: %s\n", invariant);
        ++violations;
    }
}

std::span<const std::byte> bytes(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
std::string text(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

#if BULWARK_EXAMPLE_HTTP
// ---- the post service over HTTP ---------------------------------------------------------------

namespace net = boost::asio;
namespace http = boost::beast::http;

/// The post service: a Beast HTTP server on 127.0.0.1 (a free port), one connection at a time.
/// `GET /users/<user>/posts` answers "<user>: 3 posts"; while `up` is false it answers 503.
class post_server {
public:
    post_server()
        : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0})
        , thread_([this] { serve(); }) {}
    ~post_server() {
        stop_ = true;
        boost::system::error_code ec;
        net::ip::tcp::socket wake(ioc_); // unblocks accept()
        wake.connect(acceptor_.local_endpoint(), ec);
        thread_.join();
    }
    post_server(const post_server&) = delete;
    post_server& operator=(const post_server&) = delete;

    std::string address() const {
        return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }
    std::atomic<bool> up{true};
    std::atomic<int> requests{0};

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
            ++requests;
            const std::string target(req.target());
            const bool ok = up.load();
            http::response<http::string_body> res{
                ok ? http::status::ok : http::status::service_unavailable, 11};
            const auto user = target.substr(7, target.find('/', 7) - 7); // /users/<user>/posts
            res.body() = ok ? user + ": 3 posts" : "post service down";
            res.keep_alive(false);
            res.prepare_payload();
            http::write(s, res, ec);
            s.shutdown(net::ip::tcp::socket::shutdown_both, ec);
        }
    }

    net::io_context ioc_;
    net::ip::tcp::acceptor acceptor_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};
#endif

// ---- the event-sourced user aggregate ---------------------------------------------------------

/// Events of a user's stream.
struct user_registered {
    static constexpr std::string_view event_type = "user_registered";
    std::string name;
};
struct user_renamed {
    static constexpr std::string_view event_type = "user_renamed";
    std::string name;
};

/// The events' codec: both carry only a name, stored as its bytes.
struct name_codec {
    using codec_concept = bulwark::codec_tag;
    [[maybe_unused]] static constexpr std::string_view name = "text/plain";
    template <class E>
    void encode(const E& e, std::vector<std::byte>& out) const {
        const auto b = bytes(e.name);
        out.insert(out.end(), b.begin(), b.end());
    }
    template <class E>
    bulwark::outcome<E> decode(std::span<const std::byte> in) const {
        if (in.empty())
            return bulwark::errc::decode_error;
        return E{text(in)};
    }
};

/// The user aggregate: its state is rebuilt from its events; decisions record new ones.
struct user : bulwark::aggregate<user, name_codec, user_registered, user_renamed> {
    bool registered = false;
    std::string name;

    void apply(const user_registered& e) {
        registered = true;
        name = e.name;
    }
    void apply(const user_renamed& e) { name = e.name; }

    void register_as(const std::string& n) {
        if (!registered)
            record(user_registered{n});
    }
    void rename(const std::string& n) {
        if (registered && n != name)
            record(user_renamed{n});
    }
};

/// The read model: user -> current name, fed only by the store's events.
struct user_names : bulwark::projection<user_names, name_codec, user_registered, user_renamed> {
    std::map<std::string, std::string> by_user;
    void on(const user_registered& e, const bulwark::recorded_event& r) {
        by_user[r.stream] = e.name;
    }
    void on(const user_renamed& e, const bulwark::recorded_event& r) { by_user[r.stream] = e.name; }
};

/// Announced after an append: the read side catches up from the store.
struct user_changed {
    static constexpr std::string_view subject = "users.changed";
    std::string user;
};

/// Commands and the query of the user service.
struct register_user {
    static constexpr std::string_view subject = "users.register";
    std::string user, name;
};
struct rename_user {
    static constexpr std::string_view subject = "users.rename";
    std::string user, name;
};
struct get_user_name {
    static constexpr std::string_view subject = "users.get_name";
    using reply_type = std::string;
    std::string user;
};

} // namespace

int main() {
    // ---- 1. resilient call to the post service with a cached fallback ----------------------
    std::printf("== user page: posts through retry + breaker, cached fallback ==\n");
    bulwark::manual_clock clock;
    int post_calls = 0;
#if BULWARK_EXAMPLE_HTTP
    post_server server;
    bulwark::http_transport http_client;
    std::printf("  post service: Beast HTTP server on %s\n", server.address().c_str());
    auto set_posts_up = [&](bool up) { server.up = up; };
    auto post_service = [&](const std::string& user,
                            bulwark::context& ctx) -> bulwark::outcome<std::string> {
        ++post_calls;
        const std::string target = "/users/" + user + "/posts";
        auto r = http_client.send(server.address(), {.target = target}, ctx);
        if (!r)
            return r.error();
        if (r->status != 200)
            return bulwark::errc::transport_error;
        return r->body + " (over HTTP)";
    };
#else
    bool posts_up = true;
    auto set_posts_up = [&](bool up) { posts_up = up; };
    auto post_service = [&](const std::string& user,
                            bulwark::context&) -> bulwark::outcome<std::string> {
        ++post_calls;
        if (!posts_up)
            return bulwark::errc::transport_error;
        return user + ": 3 posts (in process)";
    };
#endif
    std::map<std::string, std::string> cache;
    bulwark::basic_circuit_breaker breaker{{.window = bulwark::count_window{10},
                                            .failure_rate = 0.5,
                                            .minimum_calls = 4,
                                            .open_for = 20s,
                                            .half_open_calls = 1,
                                            .clock = clock}};
    std::string current_user;
    int fallbacks = 0;
    auto posts_client = bulwark::pipeline{
        bulwark::fallback{[&](const bulwark::failure&) -> std::string {
            ++fallbacks;
            auto it = cache.find(current_user);
            return it != cache.end() ? it->second + " [cached]" : "posts unavailable";
        }},
        std::ref(breaker), // outside the retry: an open breaker answers at once, no waiting
        bulwark::retry{.max_attempts = 2,
                       .backoff = bulwark::exponential_backoff{.base = 50ms, .cap = 200ms},
                       .clock = clock},
    };
    auto user_page = [&](const std::string& user) {
        current_user = user;
        std::string posts =
            posts_client.execute([&](bulwark::context& ctx) -> bulwark::outcome<std::string> {
                auto r = post_service(user, ctx);
                if (r.has_value())
                    cache[user] = r.value();
                return r;
            });
        return posts;
    };
    std::printf("  %s\n", user_page("alice").c_str());
    set_posts_up(false);
    int calls_before = post_calls;
    bool all_served = true;
    for (int i = 0; i < 6; ++i) {
        std::string page = user_page("alice");
        all_served = all_served && page.find("[cached]") != std::string::npos;
        if (i == 0 || i == 5)
            std::printf("  post service down, call %d: %s (breaker %s)\n", i + 1, page.c_str(),
                        breaker.state() == bulwark::breaker_state::open ? "open" : "closed");
        clock.advance(1s);
    }
    std::printf("  6 page views while down: %d reached the post service, %d served from cache\n",
                post_calls - calls_before, fallbacks);
    check(all_served, "every page view is served (from cache) while the post service is down");
    check(breaker.state() == bulwark::breaker_state::open, "the breaker opens");
    clock.advance(20s);
    set_posts_up(true);
    std::string back = user_page("alice");
    std::printf("  post service back: %s (breaker %s)\n", back.c_str(),
                breaker.state() == bulwark::breaker_state::closed ? "closed" : "not closed");
    check(breaker.state() == bulwark::breaker_state::closed, "the breaker closes after recovery");

    // ---- 2. topic routing with a dead-letter path ------------------------------------------
    std::printf("== topic routing: user.* / post.* with dead letters ==\n");
    bulwark::inproc_transport transport;
    std::vector<std::string> user_seen, post_seen;
    std::vector<std::pair<std::string, std::string>> dead_letters; // subject, reason
    auto on_user = transport.subscribe("user.*", "", [&](const bulwark::message_view& m) {
        user_seen.emplace_back(m.subject);
        return bulwark::settle::ack();
    });
    auto on_post = transport.subscribe("post.*", "", [&](const bulwark::message_view& m) {
        std::string body = text(m.data);
        if (body.rfind("title=", 0) != 0) { // a post event must carry a title
            dead_letters.emplace_back(std::string(m.subject), "malformed body: \"" + body + "\"");
            return bulwark::settle::term();
        }
        post_seen.emplace_back(m.subject);
        return bulwark::settle::ack();
    });
    bulwark::header_map h;
    for (const auto& [subject, body] :
         std::vector<std::pair<std::string, std::string>>{{"user.registered", "id=alice"},
                                                          {"post.created", "title=Hello"},
                                                          {"user.renamed", "id=alice"},
                                                          {"post.created", "{not a post"},
                                                          {"post.deleted", "title=Hello"}})
        (void)transport.publish(subject, h, bytes(body));
    std::printf("  user.* handler: %zu messages, post.* handler: %zu, dead letters: %zu\n",
                user_seen.size(), post_seen.size(), dead_letters.size());
    for (const auto& [subject, reason] : dead_letters)
        std::printf("  dead letter on %s: %s\n", subject.c_str(), reason.c_str());
    bool user_only = true, post_only = true;
    for (const auto& s : user_seen)
        user_only = user_only && s.rfind("user.", 0) == 0;
    for (const auto& s : post_seen)
        post_only = post_only && s.rfind("post.", 0) == 0;
    check(user_only && user_seen.size() == 2, "user.* sees exactly the user messages");
    check(post_only && post_seen.size() == 2, "post.* sees exactly the good post messages");
    check(dead_letters.size() == 1, "the poison message is dead-lettered");

    // ---- 3. CQRS with an event-sourced aggregate and a projection ---------------------------
    std::printf("== commands, events, projection, queries ==\n");
    bulwark::memory_event_store store;
    bulwark::aggregate_repository<user, bulwark::memory_event_store> users{store};
    bulwark::bus<bulwark::topics<user_changed>> events;
    user_names read_model; // fed by the store's events (catch_up after each change)
    auto projection = events.subscribe<user_changed>(
        [&](const user_changed&) { (void)read_model.catch_up(store); });
    // Each command: load the aggregate, decide, save at the loaded version; announce the change.
    auto decide = [&](const std::string& id, auto&& decision) {
        auto u = users.load(id).value();
        decision(u);
        auto saved = users.save(u);
        if (saved)
            events.publish(user_changed{id});
        return saved;
    };
    bulwark::command_bus<bulwark::topics<register_user, rename_user>> commands;
    auto on_register = commands.handle<register_user>([&](const register_user& c) {
        (void)decide(c.user, [&](user& u) { u.register_as(c.name); });
    });
    auto on_rename = commands.handle<rename_user>(
        [&](const rename_user& c) { (void)decide(c.user, [&](user& u) { u.rename(c.name); }); });
    bulwark::query_bus<bulwark::topics<get_user_name>> queries;
    auto on_query = queries.handle<get_user_name>([&](const get_user_name& q) {
        auto it = read_model.by_user.find(q.user);
        return it == read_model.by_user.end() ? std::string{"?"} : it->second;
    });

    (void)commands.send(register_user{"alice", "Alice"});
    (void)commands.send(register_user{"bob", "Bob"});
    (void)commands.send(rename_user{"alice", "Alice Liddell"});
    // Two writers load alice at the same version and both rename her: the store takes the first
    // append and refuses the second (its expected version is stale); the loser reloads, sees the
    // new name, decides again and saves.
    auto first = users.load("alice").value();
    auto second = users.load("alice").value();
    first.rename("Alice L.");
    second.rename("Al");
    const auto loaded_at = second.version();
    auto won = users.save(first);
    auto lost = users.save(second);
    const bool conflict = !lost && bulwark::is_concurrency_conflict(lost.error());
    std::printf("  two writers loaded alice at version %llu: the first save %s, the second %s\n",
                static_cast<unsigned long long>(loaded_at), won ? "succeeded" : "failed",
                conflict ? "is refused (concurrency conflict)" : "was not refused!");
    events.publish(user_changed{"alice"});
    auto again = decide("alice", [&](user& u) { u.rename("Al"); });
    auto alice = users.load("alice").value();
    auto name = queries.ask(get_user_name{"alice"});
    std::printf("  after a reload the second writer wins: alice's stream at version %llu, "
                "aggregate says \"%s\", read model says \"%s\" (checkpoint %llu)\n",
                static_cast<unsigned long long>(alice.version()), alice.name.c_str(),
                name.has_value() ? name.value().c_str() : "?",
                static_cast<unsigned long long>(read_model.checkpoint()));
    check(won.has_value() && conflict, "the conflicting write is refused");
    check(again.has_value() && alice.name == "Al" && alice.version() == 4,
          "the reloaded write succeeds at the next version");
    check(name.has_value() && name.value() == alice.name, "the read model matches the aggregate");
    check(read_model.by_user["bob"] == users.load("bob").value().name,
          "the read model matches every aggregate");

    if (violations != 0) {
        std::printf("%d invariant(s) violated\n", violations);
        return 1;
    }
    std::printf("all invariants held\n");
    return 0;
}
