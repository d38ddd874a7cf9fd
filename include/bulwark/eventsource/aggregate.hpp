#pragma once
/// \file
/// Aggregates: state rebuilt from a snapshot plus the events after it, new events recorded as
/// typed values and appended with the version the aggregate was loaded at (optimistic
/// concurrency).
///
/// ```cpp
/// struct order : bulwark::aggregate<order, my_codec, order_placed, item_added, order_paid> {
///     void apply(const order_placed& e) { ... }   // one per event type; checked at compile time
///     void apply(const item_added& e) { ... }
///     void apply(const order_paid& e) { ... }
///     void add(item i) { if (!paid) record(item_added{i}); }   // decide, then record
/// };
/// bulwark::aggregate_repository<order, bulwark::sqlite_event_store> orders{store};
/// auto o = orders.load("order-7").value();
/// o.add(...);
/// orders.save(o);                        // concurrency_conflict when another writer won
/// ```
/// Snapshots: give the aggregate `std::string snapshot_state() const` and
/// `void restore_state(std::string_view)`, and the repository saves one every
/// `snapshot_every` events; loading starts from the latest snapshot and replays the rest.

#include <bulwark/detail/validate.hpp>
#include <bulwark/eventsource/event_store.hpp>
#include <bulwark/eventsource/typed_event.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bulwark {

namespace detail {
template <class D, class E>
concept applies_event = requires(D& d, const E& e) {
    d.apply(e);
};
} // namespace detail

/// The base of an event-sourced aggregate `Derived` whose events are `Events...`, encoded by
/// `Codec`. `Derived` has `void apply(const E&)` for each event type (state changes only: no
/// decisions, no I/O, since it runs again on every load).
///
/// **Thread safety:** an aggregate instance belongs to one thread (load, decide, save).
template <class Derived, class Codec, class... Events>
class aggregate {
public:
    using codec_type = Codec;

    /// The stream id.
    const std::string& id() const noexcept { return id_; }
    /// The version of the last stored event applied (0 for a new aggregate).
    stream_version version() const noexcept { return version_; }
    /// Events recorded since the load, not yet saved.
    const std::vector<event_data>& pending() const noexcept { return pending_; }

    /// Applies a stored event (replay). Unknown types fail with `errc::decode_error`.
    outcome<void> replay(const recorded_event& rec) {
        failure decode{errc::decode_error};
        auto r = detail::dispatch<Codec, Events...>(
            codec_, rec, [&](const auto& e) { self().apply(e); }, &decode);
        if (r == detail::dispatch_result::unknown_type)
            return failure{
                errc::decode_error,
                std::make_exception_ptr(resilience_error(
                    errc::decode_error, "bulwark::aggregate: stream '" + rec.stream +
                                            "' has an event of unknown type '" + rec.type +
                                            "' at version " + std::to_string(rec.version)))};
        if (r == detail::dispatch_result::decode_failed)
            return decode;
        version_ = rec.version;
        return outcome<void>::success();
    }

protected:
    aggregate() {
        detail::check_events<Events...>();
        static_assert((detail::applies_event<Derived, Events> && ...),
                      "bulwark::aggregate: the aggregate needs `void apply(const E&)` for each of "
                      "its event types");
    }

    /// Applies `e` now and keeps it to be saved (with a fresh event id).
    template <class E>
    void record(const E& e) {
        static_assert((std::same_as<E, Events> || ...),
                      "bulwark::aggregate::record: E is not one of this aggregate's event types");
        self().apply(e);
        pending_.push_back(make_event(e, codec_));
    }

private:
    template <class A, class S>
    friend class aggregate_repository;

    Derived& self() noexcept { return static_cast<Derived&>(*this); }

    std::string id_;
    stream_version version_ = 0;
    std::vector<event_data> pending_;
    [[no_unique_address]] Codec codec_{};
};

/// An aggregate type with snapshot support.
template <class A>
concept snapshottable = requires(A& a, const A& ca, std::string_view s) {
    { ca.snapshot_state() } -> std::convertible_to<std::string>;
    a.restore_state(s);
};

/// Settings of `aggregate_repository`.
struct repository_options {
    /// Save a snapshot when a save crosses a multiple of this many versions (0: never). Only for
    /// aggregates with `snapshot_state` / `restore_state`.
    stream_version snapshot_every = 0;
    /// When not empty: `save` also enqueues the events to this outbox subject (outbox stores).
    std::string outbox_subject{};
};

/// Loads and saves aggregates `A` in an event store `S`.
///
/// **Failure semantics:** `save` fails with `concurrency_conflict` when the stream moved since
/// the load (nothing is written; reload and decide again); the pending events stay on the
/// aggregate until a save succeeds. A failing snapshot save does not fail `save` (snapshots are
/// an optimisation: the events are the truth).
template <class A, class S>
class aggregate_repository {
    static_assert(event_store<S>, "bulwark::aggregate_repository: S is not an event_store");

public:
    explicit aggregate_repository(S& store, repository_options opts = {})
        : store_(store)
        , opts_(std::move(opts)) {
        detail::require(opts_.snapshot_every == 0 || snapshottable<A>, "aggregate_repository",
                        "snapshot_every", "0 for an aggregate without snapshot_state/restore_state",
                        opts_.snapshot_every);
    }

    /// Rebuilds the aggregate `id`: latest snapshot (if any) plus the events after it.
    outcome<A> load(std::string_view id) {
        A a{};
        a.id_ = std::string(id);
        stream_version from = 1;
        if constexpr (snapshottable<A>) {
            auto snap = store_.load_snapshot(id);
            if (!snap)
                return snap.error();
            if (*snap && (*snap)->version > 0) {
                a.restore_state((*snap)->state);
                a.version_ = (*snap)->version;
                from = (*snap)->version + 1;
            }
        }
        auto events = store_.read(id, from);
        if (!events)
            return events.error();
        for (const auto& e : *events)
            if (auto r = a.replay(e); !r)
                return r.error();
        return a;
    }

    /// Rebuilds `id` from its full history, ignoring snapshots.
    outcome<A> load_from_events(std::string_view id) {
        A a{};
        a.id_ = std::string(id);
        auto events = store_.read(id, 1);
        if (!events)
            return events.error();
        for (const auto& e : *events)
            if (auto r = a.replay(e); !r)
                return r.error();
        return a;
    }

    /// Appends the aggregate's pending events at the version it was loaded at.
    outcome<append_result> save(A& a) {
        if (a.pending_.empty())
            return append_result{0, a.version_, 0, false};
        outcome<append_result> r = [&] {
            if constexpr (requires {
                              store_.append(std::string_view{}, std::span<const event_data>{},
                                            stream_version{}, std::string_view{});
                          }) {
                if (!opts_.outbox_subject.empty())
                    return store_.append(a.id_, a.pending_, a.version_, opts_.outbox_subject);
            }
            return store_.append(a.id_, a.pending_, a.version_);
        }();
        if (!r)
            return r;
        const stream_version before = a.version_;
        a.version_ = r->last_version;
        a.pending_.clear();
        if constexpr (snapshottable<A>) {
            const auto every = opts_.snapshot_every;
            if (every > 0 && before / every != a.version_ / every)
                (void)snapshot(a);
        }
        return r;
    }

    /// Saves a snapshot of `a` at its version (requires `snapshottable<A>` and no pending events).
    outcome<void> snapshot(const A& a) requires snapshottable<A> {
        if (!a.pending_.empty())
            return failure{errc::invalid_argument,
                           std::make_exception_ptr(invalid_argument_error(
                               "bulwark::aggregate_repository: snapshot of '" + a.id_ +
                               "' with unsaved events; save first"))};
        return store_.save_snapshot(bulwark::snapshot{a.id_, a.version_, a.snapshot_state()});
    }

private:
    S& store_;
    repository_options opts_;
};

} // namespace bulwark
