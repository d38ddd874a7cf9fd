// Users and posts: a user service that shows a user's posts by calling the post service through
// retry + circuit breaker with a cached fallback while the post service is down; topic routing
// (`user.*`, `post.*`) over the in-process byte transport with a dead-letter path for a poison
// message; and command / query buses with an event-sourced user aggregate (optimistic
// concurrency on its version) feeding a read-model projection.
//
// In process: the post service is a function and the event store a vector here. The HTTP version
// (post service behind a local Beast server) and the eventsource/ stores come with the HTTP and
// consistency issues. Invariants (exit 1 if broken): the user page never fails while the post
// service is down (cached posts are served), the breaker opens and closes again, each topic
// handler sees only its subjects, the poison message is dead-lettered with its reason, the
// conflicting write is refused, and the read model matches the aggregate.
#include <bulwark/channel/bus.hpp>
#include <bulwark/channel/cqrs.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/circuit_breaker.hpp>
#include <bulwark/policy/fallback.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/transport/inproc.hpp>

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

// ---- the event-sourced user aggregate ---------------------------------------------------------

/// An event of a user's stream.
struct user_event {
    std::string user;
    std::uint64_t version = 0; ///< position in the user's stream, from 1
    std::string kind;          ///< "registered" or "renamed"
    std::string name;
};
/// Event published to the read side after an append.
struct user_changed {
    static constexpr std::string_view subject = "users.changed";
    user_event event;
};

/// A minimal append-only store: append succeeds only at the expected version.
struct event_store {
    std::vector<user_event> events;
    std::uint64_t version_of(const std::string& user) const {
        std::uint64_t v = 0;
        for (const auto& e : events)
            if (e.user == user)
                v = e.version;
        return v;
    }
    bool append(user_event e, std::uint64_t expected) {
        if (version_of(e.user) != expected)
            return false; // someone wrote in between: optimistic concurrency conflict
        e.version = expected + 1;
        events.push_back(std::move(e));
        return true;
    }
};

/// Commands and the query of the user service.
struct register_user {
    static constexpr std::string_view subject = "users.register";
    std::string user, name;
};
struct rename_user {
    static constexpr std::string_view subject = "users.rename";
    std::string user, name;
    std::uint64_t expected_version = 0; ///< the version the client read
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
    bool posts_up = true;
    int post_calls = 0;
    auto post_service = [&](const std::string& user) -> bulwark::outcome<std::string> {
        ++post_calls;
        if (!posts_up)
            return bulwark::errc::transport_error;
        return user + ": 3 posts (fresh at t=" +
               std::to_string(
                   std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch())
                       .count()) +
               " s)";
    };
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
        std::string posts = posts_client.execute([&]() -> bulwark::outcome<std::string> {
            auto r = post_service(user);
            if (r.has_value())
                cache[user] = r.value();
            return r;
        });
        return posts;
    };
    std::printf("  %s\n", user_page("alice").c_str());
    posts_up = false;
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
    posts_up = true;
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
    event_store store;
    bulwark::bus<bulwark::topics<user_changed>> events;
    std::map<std::string, std::string> read_model; // user -> name, fed by events only
    auto projection = events.subscribe<user_changed>(
        [&](const user_changed& c) { read_model[c.event.user] = c.event.name; });
    int conflicts = 0;
    bulwark::command_bus<bulwark::topics<register_user, rename_user>> commands;
    auto on_register = commands.handle<register_user>([&](const register_user& c) {
        user_event e{c.user, 0, "registered", c.name};
        if (store.append(e, 0))
            events.publish(user_changed{store.events.back()});
    });
    auto on_rename = commands.handle<rename_user>([&](const rename_user& c) {
        if (!store.append(user_event{c.user, 0, "renamed", c.name}, c.expected_version)) {
            ++conflicts;
            std::printf("  rename of %s to \"%s\" refused: expected version %llu, stream is at "
                        "%llu\n",
                        c.user.c_str(), c.name.c_str(),
                        static_cast<unsigned long long>(c.expected_version),
                        static_cast<unsigned long long>(store.version_of(c.user)));
            return;
        }
        events.publish(user_changed{store.events.back()});
    });
    bulwark::query_bus<bulwark::topics<get_user_name>> queries;
    auto on_query = queries.handle<get_user_name>([&](const get_user_name& q) {
        auto it = read_model.find(q.user);
        return it == read_model.end() ? std::string{"?"} : it->second;
    });

    (void)commands.send(register_user{"alice", "Alice"});
    // Two clients read version 1 and both rename: the second write is a conflict.
    (void)commands.send(rename_user{"alice", "Alice Liddell", 1});
    (void)commands.send(rename_user{"alice", "Al", 1});
    auto name = queries.ask(get_user_name{"alice"});
    std::printf("  alice's stream: %zu events, version %llu; read model says \"%s\"\n",
                store.events.size(), static_cast<unsigned long long>(store.version_of("alice")),
                name.has_value() ? name.value().c_str() : "?");
    check(conflicts == 1, "the conflicting rename is refused");
    check(name.has_value() && name.value() == store.events.back().name,
          "the read model matches the aggregate");

    if (violations != 0) {
        std::printf("%d invariant(s) violated\n", violations);
        return 1;
    }
    std::printf("all invariants held\n");
    return 0;
}
