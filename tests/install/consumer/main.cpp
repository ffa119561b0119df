// The acceptance program of issue 2, verbatim: it must build against the installed package.
#include <aio/aio.hpp>
using namespace std::chrono_literals;

aio::Task<int> add_one(int x) { co_await aio::sleep(10ms); co_return x + 1; }

aio::Task<int> amain() {
    auto t = aio::create_task(add_one(1));
    auto [a, b] = co_await aio::gather(add_one(2), add_one(3));
    int c = co_await t;
    try { co_await aio::wait_for(aio::sleep(1s), 20ms); } catch (const aio::TimeoutError&) { c += 100; }
    co_return a + b + c;   // 3 + 4 + 2 + 100
}

int main() { return aio::run(amain()) == 109 ? 0 : 1; }
