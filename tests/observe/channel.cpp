// Channel events through the observing wrappers of <bulwark/observe/channel.hpp>, on a real
// async channel: published, delivered, nacked, redelivered, dead-lettered, dropped.

#include <bulwark/channel/async_channel.hpp>
#include <bulwark/observe/channel.hpp>
#include <bulwark/observe/metrics.hpp>

#include "observe/recorder.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace bulwark;

TEST_CASE("channel events: published, delivered, nacked, dead-lettered, in order",
          "[observe][events][channel][async]") {
    test::event_log log;
    test::recorder rec{&log};
    int handled = 0;
    {
        async_channel<int> ch(observe_handler<int>(
                                  [&](int& v) {
                                      ++handled;
                                      if (v < 0)
                                          throw std::runtime_error("negative");
                                  },
                                  rec, "numbers"),
                              {.delivery = at_least_once{.max_deliveries = 1},
                               .dead_letter = observe_dead_letters<int>({}, rec, "numbers")});
        REQUIRE(!observe_publish(ch, 1, rec, "numbers"));
        REQUIRE(!observe_publish(ch, -1, rec, "numbers"));
        ch.drain();
    }
    CHECK(handled == 2);
    CHECK(log.count("channel_published") == 2);
    CHECK(log.count("channel_delivered") == 2);
    CHECK(log.count("channel_nacked") == 1);
    CHECK(log.count("channel_dead_lettered") == 1);
    CHECK(log.count("channel_redelivered") == 0);
}

TEST_CASE("channel events: a drop reported through on_drop counts in the metrics",
          "[observe][events][channel]") {
    metrics_registry reg;
    auto l = reg.listener({.topic = "numbers"});
    auto hook = observe_drops<int>(l, "numbers");
    hook(1);
    hook(2);
    CHECK(l.snapshot().channel.dropped == 2);
}
