#pragma once
/// \file
/// Request/reply over a bus, NATS-style: `bus.respond<Req>(handler)` registers a responder,
/// `bus.request<Req, Reply>(req, deadline)` sends the request with a fresh correlation id
/// (the request's message id, which responders see in their `envelope`) and returns
/// `outcome<Reply>`:
///
/// - no live responder: `errc::no_responders` at once (as the NATS server's 503 status reply);
/// - the first reply wins (responders are asked in subscription order; a responder returning an
///   empty `std::optional` declines and the next is asked, as a queue group would);
/// - the deadline (read from the bus's clock) passes before a reply: `errc::timeout`, and a late
///   reply is dropped;
/// - a responder that throws or returns a failed `outcome` answers with that failure.
///
/// The reply type of a request type is `Req::reply_type` when declared (checked at compile
/// time); otherwise each request names it, and a responder replying another type is skipped.
///
/// A bus with a listener reports a request as a publish (`channel_published`) and each
/// responder that runs as a delivery (`channel_delivered`, then `channel_nacked` if it throws);
/// see `bus`.

#include <bulwark/channel/detail/cow_list.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/topics.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

namespace bulwark::detail {

template <class T>
inline constexpr char type_tag = 0; // &type_tag<T>: a unique address per type

struct no_reply_declared {};

/// `reply_of<Req>::type` when declared, else `no_reply_declared`.
template <class Req>
auto declared_reply() {
    if constexpr (requires { typename reply_of<Req>::type; })
        return std::type_identity<typename reply_of<Req>::type>{};
    else
        return std::type_identity<no_reply_declared>{};
}
template <class Req>
using declared_reply_t = typename decltype(declared_reply<Req>())::type;

template <class T>
struct reply_shape {
    using value = T;
    static constexpr bool may_decline = false;
};
template <class T>
struct reply_shape<std::optional<T>> {
    using value = T;
    static constexpr bool may_decline = true;
};
template <class T>
struct reply_shape<outcome<T>> {
    using value = T;
    static constexpr bool may_decline = false;
};

template <class F, class Req>
auto responder_result() {
    if constexpr (std::is_invocable_v<F&, const Req&>)
        return std::type_identity<std::invoke_result_t<F&, const Req&>>{};
    else if constexpr (std::is_invocable_v<F&, const envelope<Req>&>)
        return std::type_identity<std::invoke_result_t<F&, const envelope<Req>&>>{};
    else
        return std::type_identity<no_reply_declared>{};
}
template <class F, class Req>
using responder_result_t = std::remove_cvref_t<typename decltype(responder_result<F, Req>())::type>;

/// The reply type a responder `F` of `Req` produces: `Req::reply_type` when declared.
template <class F, class Req>
using responder_reply_t =
    std::conditional_t<std::is_same_v<declared_reply_t<Req>, no_reply_declared>,
                       typename reply_shape<responder_result_t<F, Req>>::value,
                       declared_reply_t<Req>>;

/// A responder's return type `Got` fits the declared reply `Expected`: `Expected` (or a type
/// it is made from), `std::optional<Expected>` (may decline) or `outcome<Expected>`.
template <class Expected, class Got>
inline constexpr bool responder_returns_v =
    std::is_void_v<Expected>
        ? (std::is_void_v<Got> || std::is_same_v<Got, outcome<void>> ||
           std::is_same_v<Got, std::optional<outcome<void>>>)
        : (!std::is_void_v<Got> && !std::is_void_v<typename reply_shape<Got>::value> &&
           std::is_constructible_v<outcome<Expected>, typename reply_shape<Got>::value>);

/// Instantiated only for a responder that returns the wrong type: the compiler prints
/// `Expected` (Req::reply_type) and `Got` (what the responder returns) with the message.
template <class Expected, class Got>
constexpr void responder_return_check() {
    static_assert(std::is_same_v<Expected, Got>,
                  "bulwark::bus::respond<Req>: the responder must return Req::reply_type "
                  "(Expected), std::optional<Expected> or outcome<Expected> (got Got)");
}

/// Whether `L` hears responder calls: then a request calls its responders through
/// `responder_node::call_heard`; otherwise through `call`, the code of a bus without a listener.
template <class L>
inline constexpr bool hears_responder_calls =
    hears<L, events::channel_delivered> || hears<L, events::channel_nacked>;

/// A listener as a responder node sees it (the node does not know the listener's type):
/// `ran` just before the responder runs, `threw` when it throws (the exception is still the
/// reply). Made by `responder_hooks_for`; lives on the requesting (or receiving) stack.
struct responder_hooks {
    void* listener = nullptr;
    std::string_view subject{};
    std::uint32_t delivery = 1;
    void (*ran)(const responder_hooks&) = nullptr;
    void (*threw)(const responder_hooks&) = nullptr;
};

/// The hooks that tell `l` `channel_delivered` and `channel_nacked` with `subject` and
/// `delivery` (the transport's delivery count over a byte transport; 1 in process).
template <class L>
responder_hooks responder_hooks_for(L& l, std::string_view subject, std::uint32_t delivery = 1) {
    return {&l, subject, delivery,
            [](const responder_hooks& h) {
                bulwark::emit(*static_cast<L*>(h.listener),
                              events::channel_delivered{h.subject, h.delivery});
            },
            [](const responder_hooks& h) {
                bulwark::emit(*static_cast<L*>(h.listener),
                              events::channel_nacked{h.subject, h.delivery});
            }};
}

template <class Policy, class Req>
struct responder_node : node_base<Policy> {
    /// Writes the reply into `out` (a `std::optional<outcome<Reply>>`) when `tag` is the
    /// responder's reply type; returns false when it declined or replies another type.
    bool (*call)(responder_node*, const Req&, const message_metadata&, void* out,
                 const void* tag) = nullptr;
    /// `call`, heard: `hooks.ran` once the reply type matched, just before the responder runs
    /// (also when it then declines), and `hooks.threw` when it throws. A separate entry so that
    /// `call`, the path of a bus without a listener, stays as it was.
    bool (*call_heard)(responder_node*, const Req&, const message_metadata&, void* out,
                       const void* tag, const responder_hooks& hooks) = nullptr;
};

template <class Policy, class Req, class F>
struct responder_node_impl final : responder_node<Policy, Req> {
    using raw = responder_result_t<F, Req>;
    using reply = responder_reply_t<F, Req>;
    F fn;

    template <class G>
    explicit responder_node_impl(G&& g)
        : fn(std::forward<G>(g)) {
        this->destroy = [](node_base<Policy>* n) noexcept {
            delete static_cast<responder_node_impl*>(n);
        };
        this->call = &invoke;
        this->call_heard = &invoke_heard;
    }
    decltype(auto) call_fn(const Req& r, const message_metadata& md) {
        if constexpr (std::is_invocable_v<F&, const Req&>)
            return std::invoke(fn, r);
        else
            return std::invoke(fn, envelope<Req>{r, md});
    }
    static bool invoke(responder_node<Policy, Req>* n, const Req& r, const message_metadata& md,
                       void* out, const void* tag) {
        return respond<false>(n, r, md, out, tag, nullptr);
    }
    static bool invoke_heard(responder_node<Policy, Req>* n, const Req& r,
                             const message_metadata& md, void* out, const void* tag,
                             const responder_hooks& hooks) {
        return respond<true>(n, r, md, out, tag, &hooks);
    }
    /// The one body of `invoke` and `invoke_heard`; `Heard` adds the two hook calls.
    template <bool Heard>
    [[gnu::always_inline]] static bool respond(responder_node<Policy, Req>* n, const Req& r,
                                               const message_metadata& md, void* out,
                                               const void* tag, const responder_hooks* hooks) {
        if (tag != &type_tag<reply>)
            return false;
        auto* self = static_cast<responder_node_impl*>(n);
        auto& slot = *static_cast<std::optional<outcome<reply>>*>(out);
        if constexpr (Heard)
            hooks->ran(*hooks);
        try {
            if constexpr (std::is_void_v<raw>) {
                self->call_fn(r, md);
                slot.emplace(outcome<void>::success());
            } else if constexpr (reply_shape<raw>::may_decline) {
                auto v = self->call_fn(r, md);
                if (!v)
                    return false;
                slot.emplace(std::move(*v));
            } else {
                slot.emplace(self->call_fn(r, md));
            }
        } catch (...) {
            if constexpr (Heard)
                hooks->threw(*hooks);
            slot.emplace(outcome<reply>::current_exception());
        }
        return true;
    }
};

/// One responder call: through `call_heard` when `Heard`, else through `call`.
template <bool Heard, class Policy, class Req>
[[gnu::always_inline]] inline bool call_responder(responder_node<Policy, Req>* n, const Req& req,
                                                  const message_metadata& md, void* out,
                                                  const void* tag, const responder_hooks* hooks) {
    if constexpr (Heard)
        return n->call_heard(n, req, md, out, tag, *hooks);
    else
        return n->call(n, req, md, out, tag);
}

/// The loop of `run_request`: asks the live responders in order until one replies. `Heard`
/// calls them through `call_heard` with `hooks`; otherwise through `call`.
template <class Reply, bool Heard, class Policy, class Req>
[[gnu::always_inline]] inline outcome<Reply>
ask_responders(cow_list<Policy, responder_node<Policy, Req>>& list, const Req& req,
               message_metadata& md, const any_clock& clock, time_point deadline,
               const responder_hooks* hooks) {
    stamp(md); // the request id is the correlation id its reply answers
    std::optional<outcome<Reply>> reply;
    enum { none, timed_out, replied } state = none;
    list.read([&](snapshot<responder_node<Policy, Req>>* s) {
        if (s == nullptr)
            return;
        for (auto& it : *s) {
            auto* n = it.node;
            if (!n->live.load(std::memory_order_acquire))
                continue;
            if (clock.now() >= deadline) {
                state = timed_out;
                return;
            }
            if (call_responder<Heard>(n, req, md, &reply, &type_tag<Reply>, hooks)) {
                state = replied;
                return;
            }
        }
    });
    if (state == replied && clock.now() >= deadline)
        return errc::timeout; // a late reply is dropped
    if (state == replied)
        return std::move(*reply);
    return state == timed_out ? errc::timeout : errc::no_responders;
}

/// The request core shared by `bus::request` and the query and command buses.
template <class Reply, class Policy, class Req>
outcome<Reply> run_request(cow_list<Policy, responder_node<Policy, Req>>& list, const Req& req,
                           message_metadata& md, const any_clock& clock, time_point deadline) {
    return ask_responders<Reply, false>(list, req, md, clock, deadline, nullptr);
}

/// `run_request` heard through `hooks` (see `responder_hooks`): each responder that runs is
/// reported before it runs, and again when it throws. The outcome is the same as unheard.
template <class Reply, class Policy, class Req>
outcome<Reply> run_request(cow_list<Policy, responder_node<Policy, Req>>& list, const Req& req,
                           message_metadata& md, const any_clock& clock, time_point deadline,
                           const responder_hooks& hooks) {
    return ask_responders<Reply, true>(list, req, md, clock, deadline, &hooks);
}

} // namespace bulwark::detail
