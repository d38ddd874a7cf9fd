#pragma once
/// \file
/// `bus<Topics>`: synchronous, in-process, typed publish/subscribe (and request/reply).
///
/// ```cpp
/// bulwark::bus<shop_topics> bus;
/// auto sub = bus.subscribe<order_created>([](const order_created& e) { ... });  // RAII
/// bus.publish(order_created{"o-1", 99.9});   // runs the handlers on this thread
/// bus.publish(42);                           // compile error: not a topic of this bus
/// ```

#include <bulwark/channel/detail/cow_list.hpp>
#include <bulwark/channel/detail/handler_node.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/request_reply.hpp>
#include <bulwark/channel/subscription.hpp>
#include <bulwark/channel/topics.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace bulwark {

/// Settings of a bus.
struct bus_options {
    /// The clock of request deadlines (`.clock = manual` in tests).
    any_clock clock{};
};

/// A compile-time list of static subscribers: default-constructible callables, each called
/// (inlined, no indirection) for every topic it accepts (`const T&` or `const envelope<T>&`),
/// before the dynamic subscribers.
template <class... S>
struct static_subscribers {};

template <class Topics, class Policy = multi_threaded, class Static = static_subscribers<>>
class bus {
    static_assert(!std::is_same_v<Topics, Topics>,
                  "bulwark::bus<Topics, Policy, Static>: Topics must be "
                  "bulwark::topics<...>, Static bulwark::static_subscribers<...>");
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
template <class... T, class Policy, class... S>
class bus<topics<T...>, Policy, static_subscribers<S...>> {
public:
    using topics_type = topics<T...>;
    using policy_type = Policy;

    explicit bus(bus_options opts = {})
        : core_(std::make_shared<core>())
        , clock_(opts.clock) {}
    bus(bus&&) noexcept = default;
    bus& operator=(bus&&) noexcept = default;

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
            auto& list = handlers<M>();
            auto node =
                std::make_unique<detail::handler_node_impl<Policy, M, fn>>(std::forward<F>(f));
            list.add(node.get());
            void* n = node.release();
            return subscription{std::shared_ptr<detail::removable>(core_, &list), n};
        }
    }

    /// Unsubscribes `sub`; returns whether it was subscribed. Same as `sub.unsubscribe()`.
    bool unsubscribe(subscription& sub) noexcept { return sub.unsubscribe(); }

    /// Publishes `m` to its topic's handlers; returns how many handlers ran.
    template <class M>
    std::size_t publish(const M& m) {
        if constexpr (!is_topic_v<M, topics_type>) {
            detail::require_topic<M, topics_type>();
            return 0;
        } else {
            return deliver(m, nullptr);
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
            return deliver(m, &md);
        }
    }

    /// The number of dynamic handlers of topic `M`.
    template <class M>
    std::size_t subscriber_count() const {
        detail::require_topic<M, topics_type>();
        return const_cast<bus*>(this)->template handlers<M>().size();
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
            return detail::run_request<Reply>(responders<Req>(), req, md, clock_, deadline);
        }
    }
    /// `request` with a timeout relative to the bus clock's now.
    template <class Req, class Reply = detail::declared_reply_t<Req>>
    outcome<Reply> request(const Req& req, duration timeout, message_metadata md = {}) {
        return request<Req, Reply>(req, saturating_add(clock_.now(), timeout), std::move(md));
    }

    /// The number of responders of `Req`.
    template <class Req>
    std::size_t responder_count() const {
        detail::require_topic<Req, topics_type>();
        return const_cast<bus*>(this)->template responders<Req>().size();
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
            auto& list = responders<Req>();
            auto node =
                std::make_unique<detail::responder_node_impl<Policy, Req, fn>>(std::forward<F>(f));
            if (!list.add(node.get(), exclusive))
                return {};
            void* n = node.release();
            return subscription{std::shared_ptr<detail::removable>(core_, &list), n};
        }
    }

private:
    template <class M>
    using handler_list = detail::cow_list<Policy, detail::handler_node<Policy, M>>;
    template <class M>
    using responder_list = detail::cow_list<Policy, detail::responder_node<Policy, M>>;

    struct core {
        std::tuple<handler_list<T>...> handlers;
        std::tuple<responder_list<T>...> responders;
    };

    template <class M>
    handler_list<M>& handlers() noexcept {
        return std::get<topic_index_v<M, topics_type>>(core_->handlers);
    }
    template <class M>
    responder_list<M>& responders() noexcept {
        return std::get<topic_index_v<M, topics_type>>(core_->responders);
    }

    template <class M>
    static constexpr bool static_wants_envelope = (detail::takes_envelope<S, M> || ...);

    template <class M>
    std::size_t deliver(const M& m, const message_metadata* given) {
        if constexpr (static_wants_envelope<M>) {
            if (given == nullptr) {
                message_metadata md;
                stamp(md);
                return deliver(m, &md);
            }
        }
        std::size_t called = 0;
        if constexpr (sizeof...(S) != 0)
            called = std::apply(
                [&](auto&... s) { return (detail::call_static<M>(s, m, given) + ... + 0); },
                statics_);
        return called + handlers<M>().read([&](auto* snap) -> std::size_t {
            if (snap == nullptr)
                return 0;
            if (snap->any_envelope && given == nullptr) [[unlikely]]
                return detail::dispatch_stamped<Policy, M>(snap, m);
            return detail::dispatch<Policy, M>(snap, m, given);
        });
    }

    std::shared_ptr<core> core_;
    any_clock clock_;
    [[no_unique_address]] std::tuple<S...> statics_{};
};

} // namespace bulwark
