// E10/E11 — cinema seat booking by two threads: the race (shown every time, not by luck), then
// the fix with a Lock (acquire/release by hand, then scoped), then why an RLock is needed when a
// locked function calls another locked function.
// Standalone: examples/e10_seat_booking. In the CLI: aiocpp demo seat_booking.
#include <atomic>
#include <string>
#include <thread>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

namespace threading = aio::threading;

// Both customers want 2 seats; 2 are left.
constexpr int kSeats = 2;
constexpr int kWanted = 2;

// The race: check, then (after a pause) take. The seed's Python version sleeps between the two
// and hopes the other thread runs meanwhile. Here a barrier between "check" and "take" makes
// both threads check before either takes, and each take is one atomic subtraction: both
// bookings go through on every run, whatever the scheduling, and 2 - 2 - 2 = -2 exactly.
int book_without_lock() {
    // Atomic operations (no undefined behaviour: C++ forbids plain data races), yet "check, then
    // take" is still two steps another thread can come between.
    std::atomic<int> available{kSeats};
    threading::Barrier both_checked(2);
    auto customer = [&](const char* who) {
        const int seen = available.load();  // check
        both_checked.wait();                 // the other customer checks now too, before anyone takes
        if (seen >= kWanted) {
            fmt::print("   {}: {} seats available, booking {}\n", who, seen, kWanted);
            available.fetch_sub(kWanted);  // take, trusting a check that is out of date
        }
    };
    std::thread a(customer, "customer A"), b(customer, "customer B");
    a.join();
    b.join();
    return available;
}

// The fix: check-and-take is one critical section.
int book_with_lock(bool scoped) {
    int available = kSeats;
    threading::Lock lock("seats");
    auto customer = [&](const char* who) {
        if (!scoped) {
            lock.acquire();  // Python: lock.acquire() ... lock.release()
            if (available >= kWanted) available -= kWanted;
            else fmt::print("   {}: sorry, sold out\n", who);
            lock.release();
        } else {
            auto held = lock.scoped();  // Python: with lock:
            if (available >= kWanted) available -= kWanted;
            else fmt::print("   {}: sorry, sold out\n", who);
        }
    };
    std::thread a(customer, "customer A"), b(customer, "customer B");
    a.join();
    b.join();
    return available;
}

// E11's RLock: book() takes the lock and calls take_seats(), which takes it too.
template <class L>
struct Cinema {
    L lock{"cinema"};
    int available = kSeats;
    void take_seats(int n) {
        auto held = lock.scoped();
        available -= n;
    }
    bool book(int n) {
        auto held = lock.scoped();
        if (available < n) return false;
        take_seats(n);  // the same thread takes the lock a second time
        return true;
    }
};

void run(const aio_demo::Options&) {
    fmt::print("Two customers book {} seats each; {} are left.\n\n", kWanted, kSeats);
    fmt::print("1. Without a lock (Python: if available >= n: sleep(); available -= n):\n");
    fmt::print("   Available seats: {}\n", book_without_lock());
    fmt::print("   Both saw enough seats before either took them: the race, every time.\n\n");

    fmt::print("2. With a Lock, acquire()/release() by hand:\n");
    fmt::print("   Available seats: {}\n", book_with_lock(false));
    fmt::print("3. With a Lock, scoped (Python: with lock:):\n");
    fmt::print("   Available seats: {}\n\n", book_with_lock(true));

    fmt::print("4. A locked function calling another locked function, with an RLock (reentrant):\n");
    {
        Cinema<threading::RLock> c;
        const bool ok = c.book(2);
        fmt::print("   booked: {}, available seats: {}\n", ok ? "yes" : "no", c.available);
    }
    fmt::print("5. The same with a plain Lock: the second acquire by the same thread would block forever.\n");
    {
        const bool was_on = threading::deadlock_detection_enabled();
        threading::set_deadlock_detection(true);  // aiocpp's detector reports it instead of hanging
        Cinema<threading::Lock> c;
        try {
            c.book(2);
            fmt::print("   booked?!\n");
        } catch (const threading::DeadlockError& e) {
            fmt::print("   the deadlock detector stopped it:\n   {}\n", e.what());
        }
        threading::set_deadlock_detection(was_on);
    }
}

const aio_demo::Registration registration{{
    .name = "seat_booking",
    .number = 10,
    .summary = "Seat booking by two threads: the race (Available seats: -2), fixed by a Lock; an RLock for nested locking.",
    .run = &run,
    .also = {11},
}};

}  // namespace
