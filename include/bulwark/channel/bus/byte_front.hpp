#pragma once
/// \file
/// The byte path of `bus<Topics, Transport, Codec>`: a byte `message_transport` under the typed
/// front. Included by channel/bus.hpp; not a header of its own.
///
/// Publish encodes the message with `Codec` and writes the envelope's metadata as headers
/// (`to_headers`) plus `content-type = Codec::name`; a subscription decodes both and calls the
/// handler with `const M&` or `const envelope<M>&` through the same handler node as the
/// in-process path. A message that cannot be decoded (body or metadata) goes to the bus's
/// dead-letter sink with its raw bytes, headers and the reason, and is settled `term`.
///
/// A part of bus.hpp, which includes it at its end, once `bus_options` and the typed front are
/// declared: including bus.hpp from here would make the pair include each other.

#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/channel/request_reply.hpp>
#include <bulwark/channel/subscription.hpp>
#include <bulwark/channel/topics.hpp>
#include <bulwark/codec/codec.hpp>
#include <bulwark/codec/schema.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>
#include <bulwark/transport/message_transport.hpp>

#include <atomic>
#include <charconv>
#include <exception>

namespace bulwark {

namespace detail {

/// Header of a failed reply: the `errc` value of the responder's failure, in decimal.
inline constexpr std::string_view reply_error_header = "bulwark-error";
/// Header carrying the codec's name.
inline constexpr std::string_view content_type_header = "content-type";

/// A readable reason of `f`: the exception's `what()`, else the code's message.
inline std::string failure_text(const failure& f) {
    if (f.exception) {
        try {
            std::rethrow_exception(f.exception);
        } catch (const std::exception& e) {
            return e.what();
        } catch (...) {
            return "unknown exception";
        }
    }
    return f.error_code().message();
}

template <class Topics, class Transport, class Codec, class Listener>
class byte_bus_front {
    static_assert(!std::is_same_v<Topics, Topics>,
                  "bulwark::bus<Topics, Transport, Codec>: Topics must be bulwark::topics<...>");
};

/// See the file comment. **Thread safety:** as the transport; subscribe and unsubscribe from
/// any thread. **Allocation:** the encoding and the headers per publish (a byte transport copies
/// anyway).
/// **Events** (`Listener`, with the message's subject): `channel_published` once the transport
/// accepted a publish; on the receiving side, on the transport's thread, `channel_delivered`
/// (with the transport's delivery count) before the handler runs, `channel_nacked` then
/// `channel_dead_lettered` (`failed`) when it throws, and `channel_dead_lettered` (`malformed`)
/// for a message that cannot be decoded (no delivery: the handler never sees it).
/// Request/reply: `request` reports `channel_published` once the request went out (a reply,
/// `no_responders` or `timeout`; not for a request the transport refused); a responder, on the
/// transport's thread, `channel_delivered` before it runs and `channel_nacked` when it throws
/// (its failure is still the reply: no dead letter); a request that cannot be decoded is
/// dead-lettered `malformed` as a message is.
template <class... T, class Transport, class Codec, class Listener>
class byte_bus_front<topics<T...>, Transport, Codec, Listener> {
    static_assert(message_transport<Transport>,
                  "bulwark::bus<Topics, Transport, Codec>: Transport must be a typed transport "
                  "(inproc_transport) or a bulwark::message_transport");
    static_assert(!std::is_void_v<Codec>,
                  "bulwark::bus<Topics, Transport, Codec>: a byte transport needs a codec: "
                  "bus<Topics, Transport, my_codec>");
    static_assert((codec<Codec, T> && ...),
                  "bulwark::bus<Topics, Transport, Codec>: Codec must be a bulwark::codec of "
                  "every topic");

public:
    using topics_type = topics<T...>;
    using transport_type = Transport;
    using codec_type = Codec;
    using policy_type = multi_threaded;
    using listener_type = Listener;

    /// A front over `t` (which must outlive the bus and its subscriptions' use).
    explicit byte_bus_front(Transport& t, bus_options opts = {}, Codec c = {})
        : st_(std::make_shared<shared>(t, std::move(opts), std::move(c), Listener{})) {}
    /// A front over `t` whose events `listener` hears (see the class comment). Not offered for
    /// `null_listener`, so that `bus(t, {})` still means the options.
    byte_bus_front(Transport& t, Listener listener, bus_options opts = {},
                   Codec c = {}) requires(!std::is_same_v<Listener, null_listener>)
        : st_(std::make_shared<shared>(t, std::move(opts), std::move(c), std::move(listener))) {}

    /// Subscribes `f` (callable with `const M&` or `const envelope<M>&`) to `M`'s subject.
    template <class M, class F>
    subscription subscribe(F&& f) {
        detail::require_topic<M, topics_type>();
        using fn = std::decay_t<F>;
        static_assert(detail::valid_handler<fn, M>,
                      "bulwark::bus::subscribe<M>: the handler must be callable with "
                      "`const M&` or `const bulwark::envelope<M>&`");
        using node_t = handler_node_impl<multi_threaded, M, fn>;
        auto node = std::make_shared<node_t>(std::forward<F>(f));
        std::weak_ptr<shared> w = st_;
        return hold(st_->t->subscribe(
            subject_v<M>, std::string_view{}, [w, node](const message_view& v) -> settle {
                auto st = w.lock();
                if (!st)
                    return settle::ack();
                auto md = from_headers(*v.headers);
                if (!md)
                    return st->malformed(v, "metadata headers: " + failure_text(md.error()));
                auto m = decode_message<M>(st->codec, *v.headers, v.data);
                if (!m)
                    return st->malformed(v, failure_text(m.error()));
                bulwark::emit(st->listener, events::channel_delivered{v.subject, v.delivery_count});
                try {
                    node->call(node.get(), *m, &*md);
                } catch (...) {
                    bulwark::emit(st->listener,
                                  events::channel_nacked{v.subject, v.delivery_count});
                    return st->failed(v, dead_letter_kind::failed, failure::current_exception());
                }
                return settle::ack();
            }));
    }

    /// Unsubscribes `sub`; returns whether it was subscribed.
    bool unsubscribe(subscription& sub) noexcept { return sub.unsubscribe(); }

    /// Encodes `m` and publishes it to `M`'s subject: the transport's result (`errc::...` when
    /// it refused; success means accepted, not delivered).
    template <class M>
    outcome<void> publish(const M& m) {
        return publish(m, message_metadata{});
    }
    /// `publish` with metadata (headers, causation); the missing fields are stamped.
    template <class M>
    outcome<void> publish(const M& m, message_metadata md) {
        detail::require_topic<M, topics_type>();
        stamp(md);
        header_map h;
        std::vector<std::byte> body;
        encode(m, md, h, body);
        auto r = st_->t->publish(subject_v<M>, h, body);
        if (r)
            bulwark::emit(st_->listener, events::channel_published{subject_v<M>});
        return r;
    }

    /// Registers a responder for requests of type `Req` (same shapes as the in-process bus).
    template <class Req, class F>
    subscription respond(F&& f) {
        return add_responder<Req>(std::forward<F>(f), false);
    }

    /// Sends `req` and decodes the reply: `errc::no_responders`, `errc::timeout` (deadline on
    /// the bus's clock), the responder's failure, or `errc::decode_error`.
    template <class Req, class Reply = detail::declared_reply_t<Req>>
    outcome<Reply> request(const Req& req, time_point deadline = no_deadline,
                           message_metadata md = {}) {
        static_assert(!std::is_same_v<Reply, detail::no_reply_declared>,
                      "bulwark::bus::request: name the reply type (request<Req, Reply>) or declare "
                      "`using reply_type = ...;` in the request type");
        detail::require_topic<Req, topics_type>();
        stamp(md);
        header_map h;
        std::vector<std::byte> body;
        encode(req, md, h, body);
        auto r = st_->t->request(subject_v<Req>, h, body, deadline);
        // Published once it went out: a reply, or nobody answering it (a refusal such as
        // `channel_closed` or `invalid_subject` is not a publish, as in `publish`).
        if (r || r.code() == errc::no_responders || r.code() == errc::timeout)
            bulwark::emit(st_->listener, events::channel_published{subject_v<Req>});
        if (!r)
            return r.error();
        if (auto e = r->headers.get(reply_error_header)) {
            int code = 0;
            std::from_chars(e->data(), e->data() + e->size(), code);
            return code > 0 ? static_cast<errc>(code) : errc::transport_error;
        }
        if constexpr (std::is_void_v<Reply>) {
            return outcome<void>::success();
        } else {
            return st_->codec.template decode<Reply>(r->data);
        }
    }
    /// `request` with a timeout relative to the bus clock's now.
    template <class Req, class Reply = detail::declared_reply_t<Req>>
    outcome<Reply> request(const Req& req, duration wait_for, message_metadata md = {}) {
        return request<Req, Reply>(req, saturating_add(st_->clock.now(), wait_for), std::move(md));
    }

    /// Internal (shared with the command and query buses). `exclusive` is enforced for the
    /// responders registered through this bus object only: a byte transport spans processes.
    template <class Req, class F>
    subscription add_responder(F&& f, bool exclusive) {
        detail::require_topic<Req, topics_type>();
        using fn = std::decay_t<F>;
        static_assert(std::is_invocable_v<fn&, const Req&> ||
                          std::is_invocable_v<fn&, const envelope<Req>&>,
                      "bulwark::bus::respond<Req>: the responder must be callable with "
                      "`const Req&` or `const bulwark::envelope<Req>&`");
        using node_t = responder_node_impl<multi_threaded, Req, fn>;
        using reply = typename node_t::reply;
        if (exclusive && responder_count<Req>() != 0)
            return {};
        auto node = std::make_shared<node_t>(std::forward<F>(f));
        std::weak_ptr<shared> w = st_;
        return hold(st_->t->subscribe(
                        subject_v<Req>, std::string_view{},
                        [w, node](const message_view& v) -> settle {
                            auto st = w.lock();
                            if (!st)
                                return settle::ack();
                            auto md = from_headers(*v.headers);
                            if (!md)
                                return st->malformed(v, "metadata headers: " +
                                                            failure_text(md.error()));
                            auto req = decode_message<Req>(st->codec, *v.headers, v.data);
                            if (!req)
                                return st->malformed(v, failure_text(req.error()));
                            std::optional<outcome<reply>> slot;
                            if (!answer(*st, *node, v, *req, *md, slot))
                                return settle::ack(); // declined: no reply (a requester times out)
                            if (v.reply_to.empty())
                                return settle::ack();
                            header_map h;
                            std::vector<std::byte> body;
                            message_metadata rmd = caused_by(*md);
                            stamp(rmd);
                            to_headers(rmd, h);
                            if (!slot->has_value()) {
                                auto code = std::to_string(static_cast<int>(slot->code()));
                                h.set(reply_error_header, code);
                            } else if constexpr (!std::is_void_v<reply>) {
                                st->codec.encode(**slot, body);
                            }
                            (void)st->t->publish(v.reply_to, h, body);
                            return settle::ack();
                        }),
                    &type_tag<Req>);
    }

    /// The responders of `Req` registered through this bus object.
    template <class Req>
    std::size_t responder_count() const {
        std::lock_guard lock(st_->subs->mutex);
        auto it = st_->subs->responders.find(&type_tag<Req>);
        return it == st_->subs->responders.end() ? 0 : it->second;
    }

    /// Messages that could not be decoded, so far (whether or not a sink took them).
    std::size_t malformed_count() const noexcept { return st_->malformed_n.load(); }

    const any_clock& clock() const noexcept { return st_->clock; }
    Transport& transport() const noexcept { return *st_->t; }

private:
    using handle_t = decltype(std::declval<Transport&>().subscribe(
        std::string_view{}, std::string_view{}, message_handler{}));

    /// The transport handles of this bus's subscriptions; a `subscription` points here.
    struct sub_table final : removable {
        mutable std::mutex mutex;
        std::unordered_map<void*, std::unique_ptr<handle_t>> handles;
        std::unordered_map<const void*, std::size_t> responders;
        std::unordered_map<void*, const void*> responder_of;
        bool remove(void* key) override {
            std::unique_ptr<handle_t> h;
            {
                std::lock_guard lock(mutex);
                auto it = handles.find(key);
                if (it == handles.end())
                    return false;
                h = std::move(it->second);
                handles.erase(it);
                if (auto r = responder_of.find(key); r != responder_of.end()) {
                    --responders[r->second];
                    responder_of.erase(r);
                }
            }
            h->unsubscribe(); // outside the lock: the transport may wait for a running callback
            return true;
        }
        bool contains(const void* key) const override {
            std::lock_guard lock(mutex);
            return handles.count(const_cast<void*>(key)) != 0;
        }
        ~sub_table() = default;
    };

    struct shared {
        shared(Transport& tr, bus_options o, Codec c, Listener l)
            : t(&tr)
            , codec(std::move(c))
            , clock(o.clock)
            , sink(std::move(o.dead_letter))
            , subs(std::make_shared<sub_table>())
            , listener(std::move(l)) {}
        Transport* t;
        Codec codec;
        any_clock clock;
        dead_letter_sink<received_message> sink;
        std::shared_ptr<sub_table> subs;
        std::atomic<std::size_t> malformed_n{0};
        [[no_unique_address]] Listener listener;

        settle malformed(const message_view& v, std::string reason) {
            malformed_n.fetch_add(1);
            return failed(v, dead_letter_kind::malformed, failure{errc::decode_error},
                          std::move(reason));
        }
        settle failed(const message_view& v, dead_letter_kind k, failure why,
                      std::string reason = {}) {
            if (reason.empty())
                reason =
                    (k == dead_letter_kind::failed ? "handler threw: " : "") + failure_text(why);
            bulwark::emit(listener, events::channel_dead_lettered{v.subject, k, reason});
            if (sink) {
                try {
                    sink(dead_letter<received_message>{
                        received_message{std::string(v.subject), *v.headers,
                                         std::vector<std::byte>(v.data.begin(), v.data.end())},
                        std::move(reason), std::move(why), v.delivery_count, k});
                } catch (...) { // a throwing sink must not take the transport's thread down
                }
            }
            return settle::term();
        }
    };

    /// Runs responder `node` for the received request `v`; returns false when it declined. A
    /// listener that hears per-call events hears `channel_delivered` (the transport's delivery
    /// count) before it runs and `channel_nacked` when it throws; others: the plain call.
    template <class Node, class Req, class Reply>
    static bool answer(shared& st, Node& node, const message_view& v, const Req& req,
                       const message_metadata& md, std::optional<outcome<Reply>>& slot) {
        if constexpr (hears_responder_calls<Listener>) {
            const responder_hooks hooks =
                responder_hooks_for(st.listener, v.subject, v.delivery_count);
            return node.call_heard(&node, req, md, &slot, &type_tag<Reply>, hooks);
        } else {
            return node.call(&node, req, md, &slot, &type_tag<Reply>);
        }
    }

    template <class M>
    void encode(const M& m, const message_metadata& md, header_map& h,
                std::vector<std::byte>& body) {
        to_headers(md, h);
        encode_message(st_->codec, m, h, body); // + content-type and schema-version headers
    }

    /// Keeps the transport's handle; `responder` tags a responder of that request type.
    subscription hold(handle_t&& h, const void* responder = nullptr) {
        auto p = std::make_unique<handle_t>(std::move(h));
        void* key = p.get();
        {
            std::lock_guard lock(st_->subs->mutex);
            st_->subs->handles.emplace(key, std::move(p));
            if (responder != nullptr) {
                st_->subs->responders[responder] += 1;
                st_->subs->responder_of[key] = responder;
            }
        }
        return subscription{std::shared_ptr<removable>(st_->subs), key};
    }
    std::shared_ptr<shared> st_;
};

} // namespace detail
} // namespace bulwark
