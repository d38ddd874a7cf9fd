// expect: drop_oldest evicts from the publishing thread, so it needs a multi-consumer queue
#include <bulwark/channel/async_channel.hpp>

int main() {
    bulwark::async_channel<int, bulwark::mpsc, bulwark::overflow::drop_oldest> ch([](int) {});
    (void)ch.publish(1);
}
