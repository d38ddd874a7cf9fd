#pragma once
/// \file
/// `bus<Topics, Transport = inproc_transport, Codec = void, Listener = null_listener>`: the
/// typed front of messaging — publish / subscribe / request / respond for a compile-time list of
/// topics — over any transport, optionally heard by a listener (<bulwark/observe/listener.hpp>).
///
/// ```cpp
/// bulwark::bus<shop_topics> bus;                           // in-process (typed transport)
/// auto sub = bus.subscribe<order_created>([](const order_created& e) { ... });  // RAII
/// bus.publish(order_created{"o-1", 99.9});   // runs the handlers on this thread
/// bus.publish(42);                           // compile error: not a topic of this bus
///
/// bulwark::bus<shop_topics, nats_transport, json_codec> remote{conn};   // a byte transport
///
/// using heard = bulwark::bus<shop_topics, bulwark::inproc_transport, void,
///                            bulwark::metrics_listener>;
/// heard observed{registry.listener({.topic = "shop"})};  // channel_published, _delivered, ...
/// ```
///
/// The front asks which kind of transport it holds: a `typed_transport` (the in-process one)
/// moves `const M&` with no encoding; a byte `message_transport` gets bytes from `Codec` and
/// the envelope as headers (`to_headers` / `from_headers`). See docs/messaging.md.
///
/// Older spellings stay valid: `bus<Topics, single_threaded>` and
/// `bus<Topics, multi_threaded, static_subscribers<...>>` mean
/// `bus<Topics, basic_inproc_transport<Policy, static_subscribers<...>>>`.

#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/request_reply.hpp>
#include <bulwark/channel/subscription.hpp>
#include <bulwark/channel/topics.hpp>
#include <bulwark/codec/codec.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/transport/inproc.hpp>
#include <bulwark/transport/message_transport.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bulwark {

/// Settings of a bus.
struct bus_options {
    /// The clock of request deadlines (`.clock = manual` in tests).
    any_clock clock{};
    /// Byte transports: where a message that cannot be decoded goes (raw bytes, headers, the
    /// reason, `cause = errc::decode_error`, `kind = dead_letter_kind::malformed`). Without a
    /// sink such messages are counted (`malformed_count()`) and dropped.
    dead_letter_sink<received_message> dead_letter{};
};

namespace detail {
/// Maps the legacy spellings (a lock policy in the transport's place) to the transport.
template <class X, class Y>
struct bus_config {
    using transport = X;
    using codec = Y;
};
template <class Y>
struct bus_config<multi_threaded, Y> {
    using transport =
        basic_inproc_transport<multi_threaded,
                               std::conditional_t<std::is_void_v<Y>, static_subscribers<>, Y>>;
    using codec = void;
};
template <class Y>
struct bus_config<single_threaded, Y> {
    using transport =
        basic_inproc_transport<single_threaded,
                               std::conditional_t<std::is_void_v<Y>, static_subscribers<>, Y>>;
    using codec = void;
};

template <class Topics, class Transport, class Codec, class Listener>
class typed_bus_front;
template <class Topics, class Transport, class Codec, class Listener>
class byte_bus_front;

template <class Topics, class Transport, class Codec, class Listener>
struct pick_front {
    using cfg = bus_config<Transport, Codec>;
    using transport = typename cfg::transport;
    using codec = typename cfg::codec;
    static constexpr bool typed = typed_transport<transport> && std::is_void_v<codec>;
    using type = std::conditional_t<typed, typed_bus_front<Topics, transport, codec, Listener>,
                                    byte_bus_front<Topics, transport, codec, Listener>>;
};
} // namespace detail

/// The typed messaging front (see the file comment). `Transport` is a `typed_transport` (no
/// `Codec`) or a byte `message_transport` with a `Codec` for every topic.
///
/// **Events:** `Listener` (the default `null_listener` costs nothing: no storage, no code) hears
/// `channel_published` per publish and per request, `channel_delivered` per handler or responder
/// call, `channel_nacked` for a handler or responder that throws and, over a byte transport,
/// `channel_dead_lettered` for a message sent to the dead-letter sink (malformed, or its handler
/// threw). Each carries the topic's subject (`subject_of<M>`). Give the listener to the
/// constructor.
template <class Topics, class Transport = inproc_transport, class Codec = void,
          class Listener = null_listener>
class bus : public detail::pick_front<Topics, Transport, Codec, Listener>::type {
    using base = typename detail::pick_front<Topics, Transport, Codec, Listener>::type;

public:
    using base::base;
};

namespace detail {

template <class Topics, class Transport, class Codec, class Listener>
class typed_bus_front {
    static_assert(!std::is_same_v<Topics, Topics>,
                  "bulwark::bus<Topics, Transport, Codec>: Topics must be bulwark::topics<...>");
};

/// A synchronous typed bus: `publish` runs every handler of the message's topic on the calling
/// thread, in subscription order, after the static subscribers.
///
/// **Failure semantics:** an exception from a handler propagates to `publish`'s caller and the
/// remaining handlers of that publish are skipped (as Boost.Signals2 and libsigc++ do).
/// **Thread safety** (`multi_threaded`): publish, subscribe and unsubscribe from any thread and
/// from inside handlers; handlers never run under a lock (copy-on-write snapshots protected by
/// hazard slots). `single_threaded`: one thread, re-entrancy still safe.
/// **Allocation:** none to publish (no envelope is built unless a handler asks for one, and then
/// on the stack); one node and one snapshot copy to subscribe.
/// **Complexity:** publish O(handlers); subscribe/unsubscribe O(handlers of the topic).
/// **Events** (`Listener`, on the publishing thread, in this order): `channel_published` when
/// `publish` starts, then per handler `channel_delivered` just before the call and, when it
/// throws, `channel_nacked` (the exception still reaches the publisher: no dead letter). A
/// request likewise, on the requesting thread: `channel_published` as `request` starts (also
/// when nobody responds or the deadline has passed: those outcomes have no event of their own),
/// then per responder that runs (a declining one too; one of another reply type is not run)
/// `channel_delivered` and, when it throws, `channel_nacked` (its exception is the reply, as
/// without a listener). With `null_listener` the publish and request paths are the same code
/// as without a listener.
template <class... T, class Transport, class Listener>
class typed_bus_front<topics<T...>, Transport, void, Listener> {
public:
    using topics_type = topics<T...>;
    using transport_type = Transport;
    using policy_type = typename Transport::lock_policy;
    using listener_type = Listener;

    explicit typed_bus_front(bus_options opts = {})
        : core_(std::make_shared<core>())
        , clock_(opts.clock) {}
    /// A bus whose publishes `listener` hears (see the class comment). Not offered for
    /// `null_listener`: a bus without a listener keeps exactly its former constructors.
    explicit typed_bus_front(Listener listener, bus_options opts = {}) requires(
        !std::is_same_v<Listener, null_listener>)
        : core_(std::make_shared<core>())
        , clock_(opts.clock)
        , listener_(std::move(listener)) {}
    typed_bus_front(typed_bus_front&&) noexcept = default;
    typed_bus_front& operator=(typed_bus_front&&) noexcept = default;

    /// Subscribes `f` (callable with `const M&` or `const bulwark::envelope<M>&`) to topic `M`.
    template <class M, class F>
    subscription subscribe(F&& f) {
        if constexpr (!is_topic_v<M, topics_type>) {
            detail::require_topic<M, topics_type>();
            return {};
        } else {
            using fn = std::decay_t<F>;
            static_assert(detail::valid_handler<fn, M>,
                          "bulwark::bus::subscribe<M>: the handler must be callable with "
                          "`const M&` or `const bulwark::envelope<M>&`");
            return core::template subscribe<M>(core_, std::forward<F>(f));
        }
    }

    /// Unsubscribes `sub`; returns whether it was subscribed. Same as `sub.unsubscribe()`.
    bool unsubscribe(subscription& sub) noexcept { return sub.unsubscribe(); }

    /// Publishes `m` to its topic's handlers; returns how many handlers ran.
    template <class M>
    [[gnu::always_inline]] std::size_t publish(const M& m) {
        if constexpr (!is_topic_v<M, topics_type>) {
            detail::require_topic<M, topics_type>();
            return 0;
        } else {
            return publish_heard(m, nullptr);
        }
    }

    /// Publishes `m` with metadata (headers, a causation link from `caused_by(parent)`); the
    /// missing fields are stamped (`stamp`).
    template <class M>
    std::size_t publish(const M& m, message_metadata md) {
        if constexpr (!is_topic_v<M, topics_type>) {
            detail::require_topic<M, topics_type>();
            return 0;
        } else {
            stamp(md);
            return publish_heard(m, &md);
        }
    }

    /// The listener (a copy of the one given to the constructor).
    Listener& listener() noexcept { return listener_; }

    /// The number of dynamic handlers of topic `M`.
    template <class M>
    std::size_t subscriber_count() const {
        detail::require_topic<M, topics_type>();
        return core_->template handlers<M>().size();
    }

    /// Registers a responder for requests of type `Req` (see request_reply.hpp).
    template <class Req, class F>
    subscription respond(F&& f) {
        return add_responder<Req>(std::forward<F>(f), false);
    }

    /// Sends `req` to the responders of `Req` and returns the first reply, `errc::no_responders`
    /// or `errc::timeout` (deadline on the bus's clock).
    template <class Req, class Reply = detail::declared_reply_t<Req>>
    outcome<Reply> request(const Req& req, time_point deadline = no_deadline,
                           message_metadata md = {}) {
        static_assert(!std::is_same_v<Reply, detail::no_reply_declared>,
                      "bulwark::bus::request: name the reply type (request<Req, Reply>) or declare "
                      "`using reply_type = ...;` in the request type");
        if constexpr (!is_topic_v<Req, topics_type>) {
            detail::require_topic<Req, topics_type>();
            return errc::invalid_argument;
        } else {
            static_assert(
                std::is_same_v<detail::declared_reply_t<Req>, detail::no_reply_declared> ||
                    std::is_same_v<detail::declared_reply_t<Req>, Reply>,
                "bulwark::bus::request<Req, Reply>: Reply differs from Req::reply_type");
            return request_heard<Reply>(req, md, deadline);
        }
    }
    /// `request` with a timeout relative to the bus clock's now.
    template <class Req, class Reply = detail::declared_reply_t<Req>>
    outcome<Reply> request(const Req& req, duration wait_for, message_metadata md = {}) {
        return request<Req, Reply>(req, saturating_add(clock_.now(), wait_for), std::move(md));
    }

    /// The number of responders of `Req`.
    template <class Req>
    std::size_t responder_count() const {
        detail::require_topic<Req, topics_type>();
        return core_->template responders<Req>().size();
    }

    const any_clock& clock() const noexcept { return clock_; }

    /// Internal: registration shared with the command and query buses (`exclusive`: exactly one).
    template <class Req, class F>
    subscription add_responder(F&& f, bool exclusive) {
        if constexpr (!is_topic_v<Req, topics_type>) {
            detail::require_topic<Req, topics_type>();
            return {};
        } else {
            using fn = std::decay_t<F>;
            static_assert(std::is_invocable_v<fn&, const Req&> ||
                              std::is_invocable_v<fn&, const envelope<Req>&>,
                          "bulwark::bus::respond<Req>: the responder must be callable with "
                          "`const Req&` or `const bulwark::envelope<Req>&`");
            using declared = detail::declared_reply_t<Req>;
            using got = detail::responder_result_t<fn, Req>;
            if constexpr (!std::is_same_v<declared, detail::no_reply_declared> &&
                          !std::is_same_v<got, detail::no_reply_declared> &&
                          !detail::responder_returns_v<declared, got>) {
                detail::responder_return_check<declared, got>(); // one readable error
                return {};
            } else {
                return core::template add_responder<Req>(core_, std::forward<F>(f), exclusive);
            }
        }
    }

private:
    using core = typename Transport::template typed_delivery<topics_type>;

    /// The publish with its events: none at all for a listener that hears no channel event.
    template <class M>
    [[gnu::always_inline]] std::size_t publish_heard(const M& m, const message_metadata* md) {
        constexpr bool per_call =
            hears<Listener, events::channel_delivered> || hears<Listener, events::channel_nacked>;
        constexpr std::string_view subject = subject_v<M>;
        bulwark::emit(listener_, events::channel_published{subject});
        if constexpr (per_call) {
            if constexpr (requires { core_->publish(m, md, listener_, subject); }) {
                return core_->publish(m, md, listener_, subject);
            } else {
                static_assert(sizeof(M) == 0,
                              "bulwark::bus<Topics, Transport, void, Listener>: this typed "
                              "transport cannot report deliveries to a listener (its "
                              "typed_delivery has no publish(m, metadata, listener, subject)); "
                              "use a listener that hears only channel_published, or "
                              "inproc_transport");
                return 0;
            }
        } else {
            return core_->publish(m, md);
        }
    }

    /// The request with its events: `channel_published` as it starts, then per responder that
    /// runs `channel_delivered` and, when it throws, `channel_nacked`. For a listener that hears
    /// neither per-call event the responders are called as without a listener.
    template <class Reply, class Req>
    outcome<Reply> request_heard(const Req& req, message_metadata& md, time_point deadline) {
        constexpr std::string_view subject = subject_v<Req>;
        bulwark::emit(listener_, events::channel_published{subject});
        auto& list = core_->template responders<Req>();
        if constexpr (detail::hears_responder_calls<Listener>) {
            const detail::responder_hooks hooks = detail::responder_hooks_for(listener_, subject);
            return detail::run_request<Reply>(list, req, md, clock_, deadline, hooks);
        } else {
            return detail::run_request<Reply>(list, req, md, clock_, deadline);
        }
    }

    std::shared_ptr<core> core_;
    any_clock clock_;
    [[no_unique_address]] Listener listener_{};
};

} // namespace detail
} // namespace bulwark

#include <bulwark/channel/bus/byte_front.hpp>
