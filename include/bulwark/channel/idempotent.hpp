#pragma once
/// \file
/// The idempotent consumer: `dedupe_window<Id>` remembers the last N message ids (fixed memory,
/// FIFO eviction), and `idempotent(handler, window, id_of)` wraps a channel handler so that a
/// message whose id was already received is acked and dropped instead of handled again.
///
/// Only first deliveries are checked (`delivery::attempt() == 1`): a redelivery is the same
/// message coming back after a nack, never a duplicate of itself. This is the fixed last stage
/// of retry -> redelivery -> dead letter -> dedupe, and it avoids MassTransit #4688 (immediate
/// redeliveries flagged as duplicates) and #3998 (`Redeliver()` skipped by the inbox).

#include <bulwark/channel/async_channel/sync.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/channel/envelope.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/observe/events.hpp>
#include <bulwark/observe/listener.hpp>

#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace bulwark {

/// Hashes a `message_id` (its 128 bits are already random-looking; fold and mix them).
struct message_id_hash {
    std::size_t operator()(const message_id& id) const noexcept {
        return static_cast<std::size_t>(detail::mix_hash(id.hi ^ (id.lo * 0x9e3779b97f4a7c15ULL)));
    }
};

/// The last `capacity` ids seen, in a ring, indexed by an open-addressing table (linear probing,
/// backward-shift deletion: no tombstones, so the table never degrades).
///
/// **Thread safety:** all members are thread-safe (one mutex; the check is O(1) and short).
/// **Allocation:** at construction only. **Complexity:** O(1) expected per call.
template <class Id = message_id, class Hash = std::conditional_t<std::same_as<Id, message_id>,
                                                                 message_id_hash, std::hash<Id>>>
class dedupe_window {
    static constexpr std::uint32_t empty = std::numeric_limits<std::uint32_t>::max();

public:
    /// Remembers up to `capacity` ids. **Failure semantics:** throws `invalid_argument_error`
    /// when `capacity` is 0 or above 2^30.
    explicit dedupe_window(std::size_t capacity) {
        detail::require(capacity >= 1 && capacity <= (std::size_t{1} << 30), "dedupe_window",
                        "capacity", "in [1, 2^30]", capacity);
        ring_.resize(capacity);
        table_.assign(std::bit_ceil(capacity * 2), empty);
        mask_ = table_.size() - 1;
    }

    /// True the first time `id` is seen within the window; false for a duplicate. Records it.
    bool first_seen(const Id& id) {
        std::lock_guard lock(mutex_);
        std::size_t i = home(id);
        for (; table_[i] != empty; i = (i + 1) & mask_)
            if (ring_[table_[i]] == id) {
                ++duplicates_;
                return false;
            }
        std::uint32_t slot;
        if (size_ < ring_.size()) {
            slot = static_cast<std::uint32_t>(size_++);
        } else { // evict the oldest id
            slot = static_cast<std::uint32_t>(next_);
            erase(find(ring_[slot]));
            i = home(id);
            while (table_[i] != empty)
                i = (i + 1) & mask_;
        }
        ring_[slot] = id;
        table_[i] = slot;
        next_ = (slot + 1) % ring_.size();
        return true;
    }
    /// True when `id` is in the window (does not record it).
    bool contains(const Id& id) const {
        std::lock_guard lock(mutex_);
        return find(id) != empty_pos();
    }
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return size_;
    }
    std::size_t capacity() const noexcept { return ring_.size(); }
    /// Duplicates reported by `first_seen` so far.
    std::uint64_t duplicates() const {
        std::lock_guard lock(mutex_);
        return duplicates_;
    }

private:
    std::size_t empty_pos() const noexcept { return table_.size(); }
    std::size_t home(const Id& id) const noexcept {
        return detail::mix_hash(static_cast<std::uint64_t>(Hash{}(id))) & mask_;
    }
    std::size_t find(const Id& id) const noexcept {
        for (std::size_t i = home(id); table_[i] != empty; i = (i + 1) & mask_)
            if (ring_[table_[i]] == id)
                return i;
        return empty_pos();
    }
    void erase(std::size_t i) noexcept {
        for (;;) {
            table_[i] = empty;
            std::size_t j = i;
            for (;;) {
                j = (j + 1) & mask_;
                if (table_[j] == empty)
                    return;
                std::size_t k = home(ring_[table_[j]]);
                // Leave table_[j] where it is if its home lies cyclically in (i, j].
                bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
                if (!stays) {
                    table_[i] = table_[j];
                    i = j;
                    break;
                }
            }
        }
    }

    mutable std::mutex mutex_;
    std::vector<Id> ring_;
    std::vector<std::uint32_t> table_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
    std::size_t next_ = 0;
    std::uint64_t duplicates_ = 0;
};

namespace detail {
/// The events' subject of an idempotent handler with a listener (owned: its views stay valid).
template <class Listener>
using observed_subject =
    std::conditional_t<std::is_same_v<Listener, null_listener>, std::string_view, std::string>;

template <class M, class H, class Window, class IdOf, class Listener = null_listener>
struct idempotent_handler {
    H inner;
    std::shared_ptr<Window> window;
    IdOf id_of;
    /// Hears `channel_duplicate_dropped` at the dedupe window's hit.
    [[no_unique_address]] Listener listener{};
    observed_subject<Listener> subject{};
    void operator()(delivery<M>& d) {
        if (d.attempt() == 1 && !window->first_seen(id_of(std::as_const(d.message())))) {
            bulwark::emit(listener, events::channel_duplicate_dropped{subject});
            d.ack(); // a duplicate is acknowledged and dropped, never redelivered
            return;
        }
        if constexpr (std::is_invocable_v<H&, M&>) {
            inner(d.message());
            d.ack();
        } else {
            inner(d);
        }
    }
};
} // namespace detail

/// Wraps a channel handler for messages `M` so that duplicates (same `id_of(message)` within the
/// window) are acked and dropped. `id_of` maps `const M&` to the id; `window` may be shared by
/// several channels (one inbox per endpoint, as MassTransit's InboxState).
///
/// **Failure semantics:** the id is recorded at the first delivery, before the handler runs, so
/// a duplicate that arrives while the original is being redelivered or was dead-lettered is
/// dropped too. **Thread safety:** as `dedupe_window`. **Allocation:** none per message.
template <class M, class Handler, class IdOf,
          class Id = std::decay_t<std::invoke_result_t<IdOf&, const M&>>>
requires(std::invocable<Handler&, M&> || std::invocable<Handler&, delivery<M>&>) auto idempotent(
    Handler handler, std::shared_ptr<dedupe_window<Id>> window, IdOf id_of) {
    return detail::idempotent_handler<M, Handler, dedupe_window<Id>, IdOf>{
        std::move(handler), std::move(window), std::move(id_of)};
}

/// As `idempotent(handler, window, id_of)`, and `listener` hears `channel_duplicate_dropped`
/// (with `subject`, copied) each time the window drops a duplicate.
template <class M, class Handler, class IdOf, class Listener,
          class Id = std::decay_t<std::invoke_result_t<IdOf&, const M&>>>
requires(std::invocable<Handler&, M&> || std::invocable<Handler&, delivery<M>&>) auto idempotent(
    Handler handler, std::shared_ptr<dedupe_window<Id>> window, IdOf id_of, Listener listener,
    std::string_view subject) {
    return detail::idempotent_handler<M, Handler, dedupe_window<Id>, IdOf, Listener>{
        std::move(handler), std::move(window), std::move(id_of), std::move(listener),
        detail::observed_subject<Listener>(subject)};
}

} // namespace bulwark
