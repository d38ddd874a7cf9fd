#pragma once
/// \file
/// `inproc_transport`: the in-process transport, the default under `bus<Topics>`.
///
/// It has two faces:
/// - the **typed face** (`typed_transport`): `typed_delivery<Topics>` moves `const M&` to the
///   handlers of one process, synchronously, with no encoding and no allocation per publish.
///   `bus<Topics>` (= `bus<Topics, inproc_transport>`) uses it.
/// - the **byte face** (`message_transport`): `publish(subject, headers, bytes)`,
///   `subscribe(pattern, queue_group, handler)` with NATS wildcards and queue groups,
///   `request(...)` with no-responders and deadlines, `drain()`. It lets the typed front run its
///   byte path (`bus<Topics, inproc_transport, Codec>`) and the transport law tests run in one
///   process, exactly as they run against NATS.
///
/// `basic_inproc_transport<Policy, Static>` takes the lock policy of the typed face
/// (`multi_threaded` or `single_threaded`) and a list of static subscribers;
/// `inproc_transport = basic_inproc_transport<>`.

#include <bulwark/channel/detail/cow_list.hpp>
#include <bulwark/channel/detail/handler_node.hpp>
#include <bulwark/channel/request_reply.hpp>
#include <bulwark/channel/subject.hpp>
#include <bulwark/channel/subscription.hpp>
#include <bulwark/channel/topics.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/transport/message_transport.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace bulwark {

/// A compile-time list of static subscribers: default-constructible callables, each called
/// (inlined, no indirection) for every topic it accepts (`const T&` or `const envelope<T>&`),
/// before the dynamic subscribers. A parameter of the in-process transport.
template <class... S>
struct static_subscribers {};

/// A typed transport: opts in with `transport_tag` and offers `typed_delivery<topics<T...>>`,
/// the per-bus delivery state of a topic list (subscribe, publish, responders).
template <class T>
concept typed_transport = detail::transport_tagged<T> && requires {
    typename T::template typed_delivery<topics<>>;
};

/// Settings of the in-process transport's byte face.
struct inproc_options {
    /// The clock of request deadlines (`.clock = manual` in tests).
    any_clock clock{};
};

template <class Policy = multi_threaded, class Static = static_subscribers<>>
class basic_inproc_transport;

/// The in-process transport with the default lock policy and no static subscribers.
using inproc_transport = basic_inproc_transport<>;

namespace detail {
template <class Policy, class Static, class Topics>
class inproc_typed_delivery;

/// Per-topic handler and responder lists of one bus over the in-process transport.
template <class Policy, class... S, class... T>
class inproc_typed_delivery<Policy, static_subscribers<S...>, topics<T...>> {
public:
    using topics_type = topics<T...>;

    /// Subscribes `f` to topic `M`; `self` owns this delivery (the subscription keeps a weak
    /// reference to it).
    template <class M, class F>
    static subscription subscribe(const std::shared_ptr<inproc_typed_delivery>& self, F&& f) {
        using fn = std::decay_t<F>;
        auto& list = self->template handlers<M>();
        auto node = std::make_unique<handler_node_impl<Policy, M, fn>>(std::forward<F>(f));
        list.add(node.get());
        void* n = node.release();
        return subscription{std::shared_ptr<removable>(self, &list), n};
    }

    /// Registers a responder of `Req` (`exclusive`: fails when one exists).
    template <class Req, class F>
    static subscription add_responder(const std::shared_ptr<inproc_typed_delivery>& self, F&& f,
                                      bool exclusive) {
        using fn = std::decay_t<F>;
        auto& list = self->template responders<Req>();
        auto node = std::make_unique<responder_node_impl<Policy, Req, fn>>(std::forward<F>(f));
        if (!list.add(node.get(), exclusive))
            return {};
        void* n = node.release();
        return subscription{std::shared_ptr<removable>(self, &list), n};
    }

    /// Runs the static then the dynamic handlers of `M`; `given` may be null (no metadata).
    template <class M>
    [[gnu::always_inline]] std::size_t publish(const M& m, const message_metadata* given) {
        null_listener none;
        return publish(m, given, none, std::string_view{});
    }

    /// `publish`, heard by `l`: `channel_delivered` before each handler call and
    /// `channel_nacked` when one throws (the exception still reaches the publisher), with
    /// `subject`. With a listener that hears neither (`null_listener`) it compiles to the plain
    /// publish. Inlined into the bus's publish, so a publish without metadata is known as such
    /// where the handlers are walked.
    template <class M, class L>
    [[gnu::always_inline]] std::size_t publish(const M& m, const message_metadata* given, L& l,
                                               std::string_view subject) {
        if constexpr (static_wants_envelope<M>) {
            if (given == nullptr)
                return publish_stamped(m, l, subject);
        }
        std::size_t called = 0;
        if constexpr (sizeof...(S) != 0)
            called = std::apply(
                [&](auto&... s) {
                    return (detail::call_static<M>(s, m, given, l, subject) + ... + 0);
                },
                statics_);
        return called + handlers<M>().read([&](auto* snap) -> std::size_t {
            if (snap == nullptr)
                return 0;
            if (given == nullptr)
                return detail::dispatch_plain<Policy, M>(snap, m, l, subject);
            return detail::dispatch<Policy, M>(snap, m, given, l, subject);
        });
    }

    template <class M>
    using handler_list = cow_list<Policy, handler_node<Policy, M>>;
    template <class M>
    using responder_list = cow_list<Policy, responder_node<Policy, M>>;

    template <class M>
    handler_list<M>& handlers() noexcept {
        return std::get<topic_index_v<M, topics_type>>(handlers_);
    }
    template <class M>
    responder_list<M>& responders() noexcept {
        return std::get<topic_index_v<M, topics_type>>(responders_);
    }

private:
    template <class M>
    static constexpr bool static_wants_envelope = (detail::takes_envelope<S, M> || ...);

    /// A publish without metadata when a static subscriber wants an envelope: stamps it here.
    template <class M, class L>
    [[gnu::noinline]] std::size_t publish_stamped(const M& m, L& l, std::string_view subject) {
        message_metadata md;
        stamp(md);
        return publish(m, &md, l, subject);
    }

    std::tuple<handler_list<T>...> handlers_;
    std::tuple<responder_list<T>...> responders_;
    [[no_unique_address]] std::tuple<S...> statics_{};
};
} // namespace detail

/// The in-process transport (see the file comment).
///
/// **Byte face semantics:** delivery is synchronous: `publish` runs the matching handlers on the
/// calling thread (one member per queue group, round robin) and returns once they ran, so
/// everything accepted is delivered when `publish` returns; handlers never run under a lock of
/// the transport and may publish, subscribe or unsubscribe. `request` publishes with a fresh
/// `_INBOX.` reply subject; a reply sent later from another thread is awaited on the clock
/// until the deadline. `drain()` refuses new publishes (`errc::channel_closed`), waits for the
/// running deliveries, then drops every subscription.
/// **Thread safety:** all members are thread-safe. **Allocation:** the byte face copies the
/// matching handlers per publish (it is the test and single-process path, not the hot path:
/// the typed face is).
template <class Policy, class Static>
class basic_inproc_transport {
    struct state; // declared before the handle that points at it (clang looks it up eagerly)

public:
    using transport_concept = transport_tag;
    using lock_policy = Policy;
    using static_list = Static;

    /// The typed face's delivery state for the topics of one bus.
    template <class Topics>
    using typed_delivery = detail::inproc_typed_delivery<Policy, Static, Topics>;

    explicit basic_inproc_transport(inproc_options o = {})
        : s_(std::make_shared<state>()) {
        s_->clock = o.clock;
    }

    /// The RAII handle of one byte subscription.
    class subscription_handle {
    public:
        subscription_handle() noexcept = default;
        subscription_handle(subscription_handle&& o) noexcept
            : s_(std::move(o.s_))
            , id_(std::exchange(o.id_, 0)) {}
        subscription_handle& operator=(subscription_handle&& o) noexcept {
            if (this != &o) {
                unsubscribe();
                s_ = std::move(o.s_);
                id_ = std::exchange(o.id_, 0);
            }
            return *this;
        }
        ~subscription_handle() { unsubscribe(); }
        /// Stops delivery to this subscription; returns whether it was subscribed. A callback
        /// already running on another thread may finish.
        bool unsubscribe() noexcept {
            auto s = s_.lock();
            auto id = std::exchange(id_, 0);
            if (!s || id == 0)
                return false;
            std::lock_guard lock(s->mutex);
            return s->subs.erase(id) != 0;
        }

    private:
        friend class basic_inproc_transport;
        subscription_handle(std::weak_ptr<state> s, std::uint64_t id)
            : s_(std::move(s))
            , id_(id) {}
        std::weak_ptr<state> s_;
        std::uint64_t id_ = 0;
    };

    /// Publishes `data` with `h` to `subject`: `errc::invalid_subject` for a subject that is not
    /// a valid publish subject, `errc::channel_closed` after `drain()`.
    outcome<void> publish(std::string_view subject, const header_map& h,
                          std::span<const std::byte> data) {
        return publish_to(subject, {}, h, data).status;
    }

    /// Subscribes `handler` to `pattern` (wildcards `*` and `>`); a non-empty `queue_group`
    /// delivers each message to one member of the group. Throws `invalid_subject_error` for an
    /// invalid pattern.
    subscription_handle subscribe(std::string_view pattern, std::string_view queue_group,
                                  message_handler handler) {
        validate_subject(pattern, subject_use::subscribe, reserved_subjects::allow);
        std::lock_guard lock(s_->mutex);
        auto id = ++s_->next_id;
        s_->subs.emplace(id, entry{std::string(pattern), std::string(queue_group),
                                   std::make_shared<message_handler>(std::move(handler))});
        return subscription_handle{s_, id};
    }

    /// Publishes a request with a fresh reply subject and waits for the first reply:
    /// `errc::no_responders` at once when nobody listens, `errc::timeout` past `deadline`.
    outcome<received_message> request(std::string_view subject, const header_map& h,
                                      std::span<const std::byte> data, time_point deadline) {
        struct inbox {
            std::mutex m;
            std::optional<received_message> reply;
            std::stop_source arrived;
        };
        auto box = std::make_shared<inbox>();
        std::string reply_to = "_INBOX." + std::to_string(s_->inbox_seq.fetch_add(1) + 1);
        auto sub = subscribe(reply_to, {}, [box](const message_view& v) {
            std::lock_guard lock(box->m);
            if (!box->reply) {
                box->reply.emplace(received_message{
                    std::string(v.subject), *v.headers, {v.data.begin(), v.data.end()}});
                box->arrived.request_stop();
            }
            return settle::ack();
        });
        auto r = publish_to(subject, reply_to, h, data);
        if (!r.status)
            return r.status.error();
        if (r.delivered == 0)
            return errc::no_responders;
        auto st = box->arrived.get_token();
        while (!st.stop_requested()) {
            auto now = s_->clock.now();
            if (now >= deadline)
                break;
            s_->clock.sleep_for(deadline - now, st);
        }
        std::lock_guard lock(box->m);
        if (!box->reply)
            return errc::timeout;
        return std::move(*box->reply);
    }

    /// Refuses new publishes, waits until running deliveries finish, drops every subscription.
    void drain() {
        std::unique_lock lock(s_->mutex);
        s_->draining = true;
        s_->idle.wait(lock, [&] { return s_->inflight == 0; });
        s_->subs.clear();
    }

    /// Publishes with a reply subject (what `request` and a responder's caller use).
    outcome<void> publish_request(std::string_view subject, std::string_view reply_to,
                                  const header_map& h, std::span<const std::byte> data) {
        return publish_to(subject, reply_to, h, data).status;
    }

    const any_clock& clock() const noexcept { return s_->clock; }

private:
    struct entry {
        std::string pattern;
        std::string queue;
        std::shared_ptr<message_handler> fn;
    };
    struct state {
        std::mutex mutex;
        std::condition_variable idle;
        std::map<std::uint64_t, entry> subs; // ordered: delivery in subscription order
        std::map<std::string, std::uint64_t, std::less<>> rr; // queue group -> round robin
        std::uint64_t next_id = 0;
        std::size_t inflight = 0;
        bool draining = false;
        std::atomic<std::uint64_t> inbox_seq{0};
        any_clock clock;
    };
    struct sent {
        outcome<void> status;
        std::size_t delivered = 0;
    };

    sent publish_to(std::string_view subject, std::string_view reply_to, const header_map& h,
                    std::span<const std::byte> data) {
        if (!is_valid_publish_subject(subject, reserved_subjects::allow))
            return {errc::invalid_subject, 0};
        std::vector<std::shared_ptr<message_handler>> targets;
        {
            std::lock_guard lock(s_->mutex);
            if (s_->draining)
                return {errc::channel_closed, 0};
            // Queue groups: the members matching this subject, one chosen per group.
            std::map<std::string_view, std::vector<const entry*>> groups;
            for (auto& [id, e] : s_->subs) {
                if (!detail::match_subject_unchecked(e.pattern, subject))
                    continue;
                if (e.queue.empty())
                    targets.push_back(e.fn);
                else
                    groups[e.queue].push_back(&e);
            }
            for (auto& [name, members] : groups) {
                auto it = s_->rr.find(name);
                if (it == s_->rr.end())
                    it = s_->rr.emplace(std::string(name), 0).first;
                targets.push_back(members[it->second++ % members.size()]->fn);
            }
            ++s_->inflight;
        }
        struct done {
            state* s;
            ~done() {
                std::lock_guard lock(s->mutex);
                if (--s->inflight == 0)
                    s->idle.notify_all();
            }
        } guard{s_.get()};
        message_view v{subject, reply_to, &h, data, 1};
        for (auto& fn : targets)
            (*fn)(v);
        return {outcome<void>{}, targets.size()};
    }

    std::shared_ptr<state> s_;
};

static_assert(message_transport<inproc_transport>);
static_assert(typed_transport<inproc_transport>);

} // namespace bulwark
