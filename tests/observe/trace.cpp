#include <bulwark/channel/bus.hpp>
#include <bulwark/channel/topics.hpp>
#include <bulwark/observe/trace.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace bulwark;

namespace {

/// A tracer stand-in: keeps what it would export.
struct recorded_span {
    std::string name;
    events::span_kind kind;
    message_id trace;
    std::uint64_t id, parent;
    bool error;
    std::string error_type;
    std::vector<std::pair<std::string, std::string>> attrs;
    bool started_before_end;
};
struct recording_tracer {
    std::vector<recorded_span> spans;
    int started = 0;
    void on(const events::span_started&) { ++started; }
    void on(const events::span_ended& e) {
        recorded_span s{std::string(e.name), e.kind,  {e.trace_id_hi, e.trace_id_lo}, e.span_id,
                        e.parent_span_id,    e.error, std::string(e.error_type),      {},
                        e.start <= e.end};
        for (std::size_t i = 0; i < e.attribute_count; ++i)
            s.attrs.emplace_back(std::string(e.attributes[i].key),
                                 e.attributes[i].is_number ? std::to_string(e.attributes[i].number)
                                                           : std::string(e.attributes[i].text));
        spans.push_back(std::move(s));
    }
};

constexpr std::string_view good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

} // namespace

TEST_CASE("traceparent parsing follows W3C strictly", "[observe][trace]") {
    auto tp = parse_traceparent(good);
    REQUIRE(tp.valid());
    CHECK(tp.trace_id.hi == 0x4bf92f3577b34da6ULL);
    CHECK(tp.trace_id.lo == 0xa3ce929d0e0e4736ULL);
    CHECK(tp.parent_id == 0x00f067aa0ba902b7ULL);
    CHECK(tp.flags == 1);
    CHECK(std::string_view(tp.text().data(), 55) == good);
    // uppercase hex, version ff, zero ids, wrong length or separators: ignored
    CHECK_FALSE(
        parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").valid());
    CHECK_FALSE(
        parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").valid());
    CHECK_FALSE(
        parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").valid());
    CHECK_FALSE(
        parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").valid());
    CHECK_FALSE(parse_traceparent(std::string(good) + "-").valid()); // v00 is exactly 55
    CHECK_FALSE(parse_traceparent(good.substr(0, 54)).valid());
    CHECK_FALSE(
        parse_traceparent("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").valid());
    // a higher version: read at version 00's offsets, extra fields after a '-' ignored
    CHECK(
        parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later").valid());
    CHECK(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").valid());
    CHECK_FALSE(
        parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x").valid());
}

TEST_CASE("tracestate validation", "[observe][trace]") {
    CHECK(valid_tracestate("congo=t61rcWkgMzE"));
    CHECK(valid_tracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"));
    CHECK(valid_tracestate("a=1,,b=2")); // empty members tolerated
    CHECK(valid_tracestate("tenant@vendor=x"));
    CHECK(valid_tracestate("1tenant@vendor=x"));
    CHECK_FALSE(valid_tracestate("1abc=x")); // a simple key starts with a lowercase letter
    CHECK_FALSE(valid_tracestate("Upper=x"));
    CHECK_FALSE(valid_tracestate("k=v,x"));
    CHECK_FALSE(valid_tracestate("k=a=b"));
    CHECK(valid_tracestate("k=a b ")); // spaces inside a value; the trailing one is OWS
    CHECK_FALSE(valid_tracestate("t@vendorwaytoolong=x"));
    std::string many;
    for (int i = 0; i < 33; ++i)
        many += "k" + std::to_string(i) + "=v,";
    CHECK_FALSE(valid_tracestate(many));
}

TEST_CASE("a span on a context continues its trace, writes its own parent id and restores it",
          "[observe][trace]") {
    recording_tracer tracer;
    context ctx;
    ctx.headers().set(header::traceparent, good);
    ctx.headers().set(header::tracestate, "congo=t61rcWkgMzE");
    {
        span s("outer", events::span_kind::server, ctx, tracer);
        CHECK(s.trace_id() == parse_traceparent(good).trace_id);
        CHECK(s.parent_span_id() == 0x00f067aa0ba902b7ULL);
        auto now = parse_traceparent(*ctx.headers().get(header::traceparent));
        CHECK(now.trace_id == s.trace_id());
        CHECK(now.parent_id == s.span_id()); // downstream hops name this span as parent
        CHECK(ctx.headers().get(header::tracestate) == "congo=t61rcWkgMzE");
        {
            span inner("inner", events::span_kind::client, ctx, tracer);
            CHECK(inner.parent_span_id() == s.span_id());
        }
        CHECK(parse_traceparent(*ctx.headers().get(header::traceparent)).parent_id == s.span_id());
    }
    CHECK(ctx.headers().get(header::traceparent) == good);
    REQUIRE(tracer.spans.size() == 2);
    CHECK(tracer.started == 2);
    CHECK(tracer.spans[0].name == "inner");
    CHECK(tracer.spans[1].started_before_end);
}

TEST_CASE("a missing or bad traceparent starts a new trace and drops tracestate",
          "[observe][trace]") {
    recording_tracer tracer;
    context ctx;
    ctx.headers().set(header::traceparent, "00-zz");
    ctx.headers().set(header::tracestate, "congo=t61rcWkgMzE");
    {
        span s("root", events::span_kind::internal, ctx, tracer);
        CHECK(s.parent_span_id() == 0);
        CHECK(!s.trace_id().is_nil());
        CHECK((s.flags() & trace_flag_sampled) != 0);
        CHECK_FALSE(ctx.headers().contains(header::tracestate));
    }
    context fresh;
    {
        span s("root", events::span_kind::internal, fresh, tracer);
        CHECK(fresh.headers().contains(header::traceparent));
    }
    CHECK_FALSE(fresh.headers().contains(header::traceparent));
    // flags other than sampled / random are not propagated
    context odd;
    odd.headers().set(header::traceparent,
                      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
    span s("x", events::span_kind::internal, odd, tracer);
    CHECK(s.flags() == 0x03);
}

TEST_CASE("traced policy: one span per call (or per attempt inside a retry), failures marked",
          "[observe][trace]") {
    recording_tracer tracer;
    auto p = pipeline{basic_traced<listener_ref<recording_tracer>>{
                          .name = "GET /users/{id}", .listener = listener_ref{tracer}},
                      retry{.max_attempts = 3},
                      basic_traced<listener_ref<recording_tracer>>{
                          .name = "attempt", .listener = listener_ref{tracer}}};
    int calls = 0;
    context ctx;
    auto out = p.try_execute(
        [&](context& c) -> outcome<int> {
            ++calls;
            // what a transport would send: the attempt span is the parent
            CHECK(parse_traceparent(*c.headers().get(header::traceparent)).valid());
            if (calls < 3)
                return failure{errc::transport_error};
            return 7;
        },
        ctx);
    REQUIRE(out.has_value());
    REQUIRE(tracer.spans.size() == 4);
    const auto& call = tracer.spans.back();
    CHECK(call.name == "GET /users/{id}");
    CHECK(call.parent == 0);
    CHECK_FALSE(call.error);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(tracer.spans[i].trace == call.trace);
        CHECK(tracer.spans[i].parent == call.id);
        CHECK(tracer.spans[i].error == (i < 2));
    }
    CHECK(tracer.spans[0].error_type == "transport_error");
    CHECK(tracer.spans[1].attrs ==
          std::vector<std::pair<std::string, std::string>>{{"http.request.resend_count", "1"}});
}

TEST_CASE("traced with the null listener propagates context without allocating",
          "[observe][trace]") {
    auto p = pipeline{traced{.name = "call"}, retry{}};
    context ctx;
    int seen = 0;
    auto op = [&](context& c) -> outcome<int> {
        seen += c.headers().contains(header::traceparent) ? 1 : 0;
        return 1;
    };
    (void)p.try_execute(op, ctx);
    test::alloc_scope scope;
    for (int i = 0; i < 100; ++i)
        (void)p.try_execute(op, ctx);
    CHECK(scope.count() == 0);
    CHECK(seen == 101);
}

namespace {
struct order_placed {
    static constexpr std::string_view subject = "orders.placed";
    int id;
};
using shop = topics<order_placed>;

/// Text headers as bytes (what a wire carries): "name: value\n" lines.
std::string to_bytes(const header_map& h) {
    std::string out;
    h.for_each([&](std::string_view k, std::string_view v) {
        out.append(k).append(": ").append(v).push_back('\n');
    });
    return out;
}
header_map from_bytes(std::string_view b) {
    header_map h;
    while (!b.empty()) {
        auto nl = b.find('\n');
        auto line = b.substr(0, nl);
        auto colon = line.find(": ");
        h.set(line.substr(0, colon), line.substr(colon + 2));
        b.remove_prefix(nl + 1);
    }
    return h;
}
} // namespace

TEST_CASE("a message published on one bus and handled on another (another thread) keeps its "
          "trace id and links to its producer span",
          "[observe][trace][concurrency]") {
    // Two buses stand for two processes: the only thing crossing is bytes (int id + headers).
    recording_tracer producer_tracer, consumer_tracer;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<int, std::string>> wire;
    message_id call_trace{};
    std::uint64_t call_span = 0, producer_span = 0;

    std::thread consumer([&] {
        bus<shop> b;
        std::vector<std::pair<message_id, std::uint64_t>> handled;
        auto sub = b.subscribe<order_placed>([&](const envelope<order_placed>& e) {
            auto s = process_span(e.metadata(), order_placed::subject, consumer_tracer);
            handled.emplace_back(s.trace_id(), s.parent_span_id());
        });
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return !wire.empty(); });
        auto [id, bytes] = wire.front();
        lock.unlock();
        auto md = from_headers(from_bytes(bytes));
        REQUIRE(md.has_value());
        b.publish(order_placed{id}, std::move(md).value());
        REQUIRE(handled.size() == 1);
    });

    {
        bus<shop> b;
        auto sub = b.subscribe<order_placed>([&](const envelope<order_placed>& e) {
            header_map h;
            to_headers(e.metadata(), h);
            std::lock_guard lock(mu);
            wire.emplace_back(e.message().id, to_bytes(h));
            cv.notify_one();
        });
        context ctx;
        span call("checkout", events::span_kind::server, ctx, producer_tracer);
        call_trace = call.trace_id();
        call_span = call.span_id();
        message_metadata md;
        auto p = publish_span(md, order_placed::subject, producer_tracer, &ctx, "inproc");
        producer_span = p.span_id();
        b.publish(order_placed{42}, md);
    }
    consumer.join();

    REQUIRE(producer_tracer.spans.size() == 2);
    REQUIRE(consumer_tracer.spans.size() == 1);
    const auto& prod = producer_tracer.spans[0];
    const auto& cons = consumer_tracer.spans[0];
    CHECK(prod.kind == events::span_kind::producer);
    CHECK(prod.name == "publish orders.placed");
    CHECK(prod.trace == call_trace);
    CHECK(prod.parent == call_span);
    CHECK(cons.kind == events::span_kind::consumer);
    CHECK(cons.name == "process orders.placed");
    CHECK(cons.trace == call_trace);     // same trace across the "processes"
    CHECK(cons.parent == producer_span); // and the parent link
    CHECK(std::find(cons.attrs.begin(), cons.attrs.end(),
                    std::pair<std::string, std::string>{"messaging.destination.name",
                                                        "orders.placed"}) != cons.attrs.end());
}
