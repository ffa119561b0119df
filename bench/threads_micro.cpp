// Issue #5's benchmarks, one cold run per process, printing one line in the format of
// ../shared/peers (bench=... n=... seconds=...). Usage: aio_threads_micro BENCH [N]
//   threadpool        Python micro.py threadpool: ThreadPoolExecutor(2), submit N no-ops, then
//                     result() each (pool warmed by one job first)
//   asio_pool         the same with boost::asio::thread_pool(2), post(packaged_task) + future
//   naive_pool        the same with a textbook pool: one mutex-guarded std::deque + condition
//                     variable, std::packaged_task + std::future (the design issue #5 warns about)
//   executor          Python micro.py executor: N run_in_executor(pool(2), noop) gathered in a
//                     coroutine (pool warmed first)
//   sqrt_seq          E12: sum of sqrt(i) for i in 1..N on one thread (N = 50,000,000)
//   sqrt_threads      the same split into `cores` contiguous ranges over a ThreadPoolExecutor
//                     (pool start-up included, as in the seed's experiment)
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "aio/core/gather.hpp"
#include "aio/core/run.hpp"
#include "aio/threads/bridge.hpp"
#include "aio/threads/thread_pool.hpp"

#ifdef AIO_HAVE_ASIO  // set by bench/CMakeLists.txt when Boost.Asio's header is installed
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#endif

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void noop() {}

double threadpool(size_t n) {
    aio::ThreadPoolExecutor ex(2);
    ex.submit(noop).result();
    const auto t0 = Clock::now();
    std::vector<aio::ConcurrentFuture<void>> fs;
    fs.reserve(n);
    for (size_t i = 0; i < n; ++i) fs.push_back(ex.submit(noop));
    for (auto& f : fs) f.result();
    return since(t0);
}

#ifdef AIO_HAVE_ASIO
double asio_pool(size_t n) {
    boost::asio::thread_pool pool(2);
    {
        std::packaged_task<void()> t(noop);
        auto f = t.get_future();
        boost::asio::post(pool, std::move(t));
        f.get();
    }
    const auto t0 = Clock::now();
    std::vector<std::future<void>> fs;
    fs.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        std::packaged_task<void()> t(noop);
        fs.push_back(t.get_future());
        boost::asio::post(pool, std::move(t));
    }
    for (auto& f : fs) f.get();
    const double s = since(t0);
    pool.join();
    return s;
}
#endif

// The textbook pool: every submit and every take goes through one mutex.
class NaivePool {
public:
    explicit NaivePool(int n) {
        for (int i = 0; i < n; ++i)
            threads_.emplace_back([this] {
                for (;;) {
                    std::packaged_task<void()> t;
                    {
                        std::unique_lock lk(mu_);
                        cv_.wait(lk, [this] { return stop_ || !q_.empty(); });
                        if (q_.empty()) return;
                        t = std::move(q_.front());
                        q_.pop_front();
                    }
                    t();
                }
            });
    }
    ~NaivePool() {
        {
            std::lock_guard lk(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_) t.join();
    }
    std::future<void> submit(void (*fn)()) {
        std::packaged_task<void()> t(fn);
        auto f = t.get_future();
        {
            std::lock_guard lk(mu_);
            q_.push_back(std::move(t));
        }
        cv_.notify_one();
        return f;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::packaged_task<void()>> q_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

double naive_pool(size_t n) {
    NaivePool pool(2);
    pool.submit(noop).get();
    const auto t0 = Clock::now();
    std::vector<std::future<void>> fs;
    fs.reserve(n);
    for (size_t i = 0; i < n; ++i) fs.push_back(pool.submit(noop));
    for (auto& f : fs) f.get();
    return since(t0);
}

aio::Task<double> executor(size_t n) {
    aio::ThreadPoolExecutor ex(2);
    co_await aio::run_in_executor(&ex, noop);  // start the workers, as micro.py does
    const auto t0 = Clock::now();
    std::vector<aio::Future<void>> fs;
    fs.reserve(n);
    for (size_t i = 0; i < n; ++i) fs.push_back(aio::run_in_executor(&ex, noop));
    co_await aio::gather(std::move(fs));
    co_return since(t0);
}

// Not inlined: the one-thread and the pooled runs must execute the same machine code, or the
// speed-up measures the compiler's choices (inlined into sqrt_seq it ran 1.35x slower per item).
[[gnu::noinline]] double sqrt_range(uint64_t lo, uint64_t hi) {
    double s = 0;
    for (uint64_t i = lo; i < hi; ++i) s += std::sqrt(static_cast<double>(i));
    return s;
}

double sqrt_seq(size_t n, std::string& result) {
    const auto t0 = Clock::now();
    const double s = sqrt_range(1, n + 1);
    const double dt = since(t0);
    char buf[64];
    std::snprintf(buf, sizeof buf, " result=%.6e", s);
    result = buf;
    return dt;
}

double sqrt_threads(size_t n, std::string& result) {
    const auto t0 = Clock::now();
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    aio::ThreadPoolExecutor ex(static_cast<int>(cores));
    const uint64_t step = n / cores;
    std::vector<aio::ConcurrentFuture<double>> parts;
    for (unsigned k = 0; k < cores; ++k) {
        uint64_t lo = 1 + k * step, hi = k + 1 < cores ? 1 + (k + 1) * step : n + 1;
        parts.push_back(ex.submit(sqrt_range, lo, hi));
    }
    double s = 0;
    for (auto& p : parts) s += p.result();
    const double dt = since(t0);
    char buf[96];
    std::snprintf(buf, sizeof buf, " result=%.6e threads=%u", s, cores);
    result = buf;
    return dt;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: aio_threads_micro BENCH [N]\n");
        return 2;
    }
    const std::string b = argv[1];
    const size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100'000;
    std::string result;
    double s = 0;
    if (b == "threadpool") s = threadpool(n);
#ifdef AIO_HAVE_ASIO
    else if (b == "asio_pool") s = asio_pool(n);
#endif
    else if (b == "naive_pool") s = naive_pool(n);
    else if (b == "executor") s = aio::run(executor(n));
    else if (b == "sqrt_seq") s = sqrt_seq(n, result);
    else if (b == "sqrt_threads") s = sqrt_threads(n, result);
    else {
        std::fprintf(stderr, "unknown benchmark %s\n", b.c_str());
        return 2;
    }
    std::printf("bench=aio_%s n=%zu seconds=%.6f ns_per_item=%.1f%s\n", b.c_str(), n, s, s * 1e9 / static_cast<double>(n),
                result.c_str());
}
