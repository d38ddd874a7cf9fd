// A coroutine operation given to the synchronous driver.
// expect: use co_await pipeline.async_execute\(op\) instead
#include <bulwark/pipeline.hpp>

int main() {
    bulwark::pipeline p{bulwark::pass_through{}};
    p.execute([]() -> bulwark::task<int> { co_return 1; });
}
