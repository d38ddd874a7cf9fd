#pragma once
/// \file
/// The cold paths of `registry` (updates, snapshot publication, queries), split from
/// registry.hpp to keep the reader-facing part short. range-v3 views read better than loops here.

#include <bulwark/balance/registry.hpp>

#include <range/v3/algorithm/find.hpp>
#include <range/v3/range/conversion.hpp>
#include <range/v3/view/filter.hpp>
#include <range/v3/view/transform.hpp>

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace bulwark {

inline void registry::update(std::span<const endpoint_info> infos) {
    std::unordered_set<std::string_view> seen;
    for (const endpoint_info& i : infos) {
        if (i.address.empty())
            throw invalid_argument_error("registry::update: an endpoint has an empty address");
        if (i.weight == 0)
            throw invalid_argument_error("registry::update: endpoint '" + i.address +
                                         "' has weight 0 (weights must be >= 1)");
        if (!seen.insert(i.address).second)
            throw invalid_argument_error("registry::update: duplicate endpoint address '" +
                                         i.address + "'");
    }
    std::lock_guard lock(mutex_);
    const endpoint_set& cur = *current_.load(std::memory_order_relaxed);
    std::vector<std::shared_ptr<endpoint>> next;
    next.reserve(infos.size());
    std::unordered_map<std::string_view, const std::shared_ptr<endpoint>*> by_address;
    for (const auto& e : cur.owners())
        by_address.emplace(e->address(), &e);
    std::unordered_set<const endpoint*> kept;
    for (const endpoint_info& i : infos) {
        auto same = by_address.find(i.address);
        if (same != by_address.end() && (*same->second)->info() == i) {
            next.push_back(*same->second);
            kept.insert(same->second->get());
        } else {
            next.push_back(std::make_shared<endpoint>(i));
        }
    }
    for (const auto& e : cur.owners())
        if (!kept.contains(e.get()))
            retired_.push_back(e);
    publish_locked(std::move(next));
}

inline void registry::record(const endpoint& e, verdict v, duration rtt, time_point now) {
    if (v == verdict::ignore)
        return;
    e.observe_latency(rtt, now, opts_.ewma_decay);
    if (v == verdict::success) {
        outlier_detector::record_success(e);
    } else if (const auto streak = outlier_detector::record_failure(e);
               detector_ && detector_->should_eject(e, streak)) {
        std::lock_guard lock(mutex_);
        const endpoint_set& cur = *current_.load(std::memory_order_relaxed);
        std::size_t out = 0;
        for (const endpoint* x : cur.all())
            out += x->ejected() ? 1 : 0;
        if (detector_->eject(e, now, cur.all().size(), out))
            publish_locked(cur.owners());
    }
}

inline void registry::refresh() {
    std::lock_guard lock(mutex_);
    publish_locked(current_.load(std::memory_order_relaxed)->owners());
}

inline void registry::publish_locked(std::vector<std::shared_ptr<endpoint>> owned) {
    std::vector<const endpoint*> healthy;
    healthy.reserve(owned.size());
    for (const auto& e : owned)
        if (e->healthy())
            healthy.push_back(e.get());
    // Envoy: below the panic threshold, balance across all endpoints, healthy or not.
    const bool panic =
        !owned.empty() && static_cast<double>(healthy.size()) <
                              opts_.panic_threshold * static_cast<double>(owned.size());
    std::vector<const endpoint*> ready;
    if (panic) {
        ready.reserve(owned.size());
        for (const auto& e : owned)
            ready.push_back(e.get());
    } else {
        ready = std::move(healthy);
    }
    auto* fresh =
        new endpoint_set(std::move(owned), std::move(ready), panic, ++version_, opts_.ewma_decay);
    const endpoint_set* old = current_.exchange(fresh, std::memory_order_seq_cst);
    epoch_.synchronize();
    delete old;
    // Removed endpoints leave once no request is in flight on them (the balance policy counts
    // an endpoint's request as outstanding before leaving its read section).
    std::erase_if(retired_, [](const auto& e) {
        return e->outstanding_.load(std::memory_order_acquire) == 0;
    });
}

template <class Pred>
std::vector<std::shared_ptr<const endpoint>> registry::query(Pred pred) const {
    reader r = read();
    return r->owners() | ranges::views::filter([&](const auto& e) { return pred(*e); }) |
           ranges::views::transform(
               [](const auto& e) { return std::shared_ptr<const endpoint>(e); }) |
           ranges::to<std::vector>();
}

template <class>
std::vector<std::shared_ptr<const endpoint>> registry::endpoints() const {
    return query([](const endpoint&) { return true; });
}
template <class>
std::vector<std::shared_ptr<const endpoint>> registry::healthy() const {
    return query([](const endpoint& e) { return e.healthy(); });
}
template <class>
std::vector<std::shared_ptr<const endpoint>> registry::in_zone(std::string_view zone) const {
    return query([zone](const endpoint& e) { return e.zone() == zone; });
}
template <class>
std::vector<std::shared_ptr<const endpoint>> registry::not_tried(const context& ctx) const {
    reader r = read();
    const auto& ready = r->ready();
    return r->owners() | ranges::views::filter([&](const auto& e) {
               return !ctx.was_tried(e.get()) && ranges::find(ready, e.get()) != ready.end();
           }) |
           ranges::views::transform(
               [](const auto& e) { return std::shared_ptr<const endpoint>(e); }) |
           ranges::to<std::vector>();
}
template <class>
std::shared_ptr<const endpoint> registry::find(std::string_view address) const {
    auto found = query([address](const endpoint& e) { return e.address() == address; });
    return found.empty() ? nullptr : found.front();
}

} // namespace bulwark
