#pragma once
/// \file
/// CQRS buses: `command_bus<Topics>` (each command type has exactly one handler; `send` runs it)
/// and `query_bus<Topics>` (each query type has exactly one handler; `ask` returns its reply).
/// Both are request/reply to a single handler over the typed bus (request_reply.hpp): no handler
/// → `errc::no_responders`; registering a second handler for a type throws
/// `invalid_argument_error` (MediatR and Brighter make the same rule for commands and queries).
///
/// ```cpp
/// struct place_order { static constexpr std::string_view subject = "orders.place"; int qty; };
/// struct get_stock { static constexpr std::string_view subject = "stock.get";
///                    using reply_type = int; std::string sku; };
/// bulwark::command_bus<bulwark::topics<place_order>> commands;
/// auto h = commands.handle<place_order>([](const place_order& c) { ... });
/// bulwark::outcome<void> done = commands.send(place_order{3});
/// bulwark::query_bus<bulwark::topics<get_stock>> queries;
/// auto q = queries.handle<get_stock>([](const get_stock& q) { return 7; });
/// int n = queries.ask(get_stock{"sku-1"}).value();
/// ```
///
/// Both run over any transport of the bus: `command_bus<Topics, Transport, Codec>` is
/// `bus<Topics, Transport, Codec>` with the one-handler rule, so over a byte transport
/// (`command_bus<T, nats_transport, json_codec> commands(transport)`) a command or query is
/// encoded, sent with the transport's request, and answered by the one registered handler.
/// The one-handler rule is checked per bus object: a byte transport spans processes, and
/// handlers registered elsewhere are not seen.

#include <bulwark/channel/bus.hpp>
#include <bulwark/core/error.hpp>

#include <concepts>
#include <string>
#include <utility>

namespace bulwark {

namespace detail {
/// One handler per message type: the shared core of the command and query buses.
template <class Topics, class Transport, class Codec>
class single_handler_bus {
public:
    using bus_type = bus<Topics, Transport, Codec>;

    template <class... A>
    explicit single_handler_bus(A&&... a)
        : bus_(std::forward<A>(a)...) {}

    template <class M, class F>
    subscription handle(F&& f, const char* who) {
        auto sub = bus_.template add_responder<M>(std::forward<F>(f), true);
        if (!sub)
            throw invalid_argument_error(std::string(who) + ": '" + std::string(subject_v<M>) +
                                         "' already has a handler; a type has exactly one");
        return sub;
    }
    template <class M>
    bool has_handler() const {
        return bus_.template responder_count<M>() != 0;
    }

protected:
    bus_type bus_;
};
} // namespace detail

/// Commands: exactly one handler per command type; `send` runs it on the calling thread.
///
/// A handler returns `void` (or a value, when the command declares `using reply_type = R;`) and
/// may take `const C&` or `const envelope<C>&`.
/// **Failure semantics:** no handler → `errc::no_responders`; a throwing handler → its
/// exception, captured in the outcome. A second `handle<C>` throws `invalid_argument_error`.
/// **Thread safety:** as `bus<Topics, Transport, Codec>`. **Allocation:** none to send.
template <class Topics, class Transport = multi_threaded, class Codec = void>
class command_bus : private detail::single_handler_bus<Topics, Transport, Codec> {
    using base = detail::single_handler_bus<Topics, Transport, Codec>;

public:
    /// The bus underneath: `bus<Topics, Transport, Codec>`.
    using bus_type = typename base::bus_type;

    /// In process (a typed transport).
    explicit command_bus(
        bus_options opts = {}) requires std::constructible_from<bus_type, bus_options>
        : base(std::move(opts)) {}
    /// Over the byte transport `t` (which must outlive the bus); the codec is `Codec{}`.
    template <class Tr>
    requires std::constructible_from<bus_type, Tr&, bus_options>
    explicit command_bus(Tr& t, bus_options opts = {})
        : base(t, std::move(opts)) {}

    /// Registers the handler of command `C`; the returned subscription removes it.
    template <class C, class F>
    subscription handle(F&& f) {
        return base::template handle<C>(std::forward<F>(f), "bulwark::command_bus");
    }

    /// Runs the handler of `cmd`'s type.
    template <class C>
    auto send(const C& cmd, message_metadata md = {}) {
        using reply = std::conditional_t<
            std::is_same_v<detail::declared_reply_t<C>, detail::no_reply_declared>, void,
            detail::declared_reply_t<C>>;
        return this->bus_.template request<C, reply>(cmd, no_deadline, std::move(md));
    }

    using base::has_handler;
};

/// Queries: exactly one handler per query type, which returns the reply (the query type declares
/// `using reply_type = R;`, or `ask<R>(q)` names it).
///
/// **Failure semantics:** no handler → `errc::no_responders`; past the deadline (bus clock) →
/// `errc::timeout`; a throwing handler → its exception in the outcome.
/// **Thread safety:** as `bus<Topics, Transport, Codec>`. **Allocation:** none beyond the reply's
/// own.
template <class Topics, class Transport = multi_threaded, class Codec = void>
class query_bus : private detail::single_handler_bus<Topics, Transport, Codec> {
    using base = detail::single_handler_bus<Topics, Transport, Codec>;

public:
    /// The bus underneath: `bus<Topics, Transport, Codec>`.
    using bus_type = typename base::bus_type;

    /// In process (a typed transport).
    explicit query_bus(
        bus_options opts = {}) requires std::constructible_from<bus_type, bus_options>
        : base(std::move(opts)) {}
    /// Over the byte transport `t` (which must outlive the bus); the codec is `Codec{}`.
    template <class Tr>
    requires std::constructible_from<bus_type, Tr&, bus_options>
    explicit query_bus(Tr& t, bus_options opts = {})
        : base(t, std::move(opts)) {}

    /// Registers the handler of query `Q`; the returned subscription removes it.
    template <class Q, class F>
    subscription handle(F&& f) {
        return base::template handle<Q>(std::forward<F>(f), "bulwark::query_bus");
    }

    /// Asks the handler of `q`'s type; the reply type is `Q::reply_type`.
    template <class Q>
    outcome<typename reply_of<Q>::type> ask(const Q& q, time_point deadline = no_deadline) {
        return this->bus_.template request<Q, typename reply_of<Q>::type>(q, deadline);
    }
    template <class Q>
    outcome<typename reply_of<Q>::type> ask(const Q& q, duration timeout) {
        return this->bus_.template request<Q, typename reply_of<Q>::type>(q, timeout);
    }
    /// Asks with an explicit reply type (for query types that do not declare one).
    template <class R, class Q>
    outcome<R> ask(const Q& q, time_point deadline = no_deadline) {
        return this->bus_.template request<Q, R>(q, deadline);
    }

    using base::has_handler;
};

} // namespace bulwark
