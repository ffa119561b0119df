// Memory shared between processes: multiprocessing.Value and multiprocessing.Array.
//
// Every object lives in its own anonymous shared mapping (mmap MAP_SHARED | MAP_ANONYMOUS). A
// child fork()ed after the object was made inherits the mapping at the same address, so the
// handle it inherited works as is; copies of a handle within a process refer to the same memory.
// Nothing has a name and nothing is created in /dev/shm: the kernel frees the pages when the last
// process that maps them unmaps them or dies, so nothing can leak, whoever crashes. The price:
// only the process that made an object and its fork()ed descendants can reach it (a child
// started with the spawn method, or an unrelated process, cannot).
//
// Each object costs one mapping (at least a page, and one of the kernel's per-process mappings,
// vm.max_map_count, 65530 by default): fine for the handful of shared counters and tables a
// program has, not for millions of tiny ones.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "aio/mp/sync.hpp"

namespace aio::mp {

namespace detail {

/// An anonymous shared mapping, zero-filled, at least `bytes` long (rounded up to whole pages).
/// Unmapping in one process leaves the memory to the others that still map it.
class SharedMemory {
public:
    /// Throws std::system_error if mmap fails.
    explicit SharedMemory(std::size_t bytes);
    SharedMemory(const SharedMemory&) = delete;
    SharedMemory& operator=(const SharedMemory&) = delete;
    ~SharedMemory();

    [[nodiscard]] void* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    void* data_;
    std::size_t size_;
};

/// Builds an S in a new shared mapping. The pointer keeps the mapping mapped in this process but
/// never runs ~S: other processes may still be using the object, and there is nothing to clean
/// up anyway (hence the trivially destructible requirement).
template <class S, class... A>
std::shared_ptr<S> make_shared_state(A&&... args) {
    static_assert(std::is_trivially_destructible_v<S>, "shared state is never destroyed, only unmapped");
    static_assert(alignof(S) <= 64, "a mapping is page-aligned; keep shared state within a cache line's alignment");
    auto mem = std::make_shared<SharedMemory>(sizeof(S));
    S* s = ::new (mem->data()) S(std::forward<A>(args)...);
    return std::shared_ptr<S>(std::move(mem), s);
}

/// A mapping holding `data_bytes` of data at its start and then, on its own cache line, an RLock:
/// Value and Array keep their data and their lock in one mapping instead of two.
struct LockedBlock {
    void* data;
    RLock lock;  // its state's pointer keeps the mapping alive
};
LockedBlock make_locked_block(std::size_t data_bytes);

}  // namespace detail

/// multiprocessing.Value(typecode, value, lock=True): one T in shared memory with the
/// process-shared RLock that Python gives a Value by default.
///
/// load() and store() take the lock, like Python's `.value`; a read-modify-write such as an
/// increment needs the lock held around it, as in Python (`with v.get_lock(): v.value += 1`):
///
///     { auto held = v.get_lock().scoped(); ++v.value(); }
///
/// If a process dies while holding the lock, the next acquire() takes it over (see RLock); the
/// value may then be half-written.
template <class T>
class Value {
    static_assert(std::is_trivially_copyable_v<T>,
                  "aio::mp::Value<T> needs a trivially copyable T: its bytes are shared, its destructor never runs");
    static_assert(alignof(T) <= 4096, "shared memory is page-aligned");

public:
    /// Python Value(typecode, value).
    explicit Value(T init = T{}) : Value(detail::make_locked_block(sizeof(T)), init) {}
    Value(const Value&) = default;
    Value& operator=(const Value&) = default;

    /// Python get_lock(): the RLock guarding the value (shared by every copy, in every process).
    [[nodiscard]] RLock& get_lock() const noexcept { return lock_; }
    /// Python `v.value` (read): a copy taken under the lock.
    [[nodiscard]] T load() const {
        auto held = lock_.scoped();
        return *value_;
    }
    /// Python `v.value = x`: written under the lock.
    void store(T v) {
        auto held = lock_.scoped();
        *value_ = v;
    }
    /// Python get_obj(): the shared T itself, unsynchronised. Hold get_lock() while using it.
    [[nodiscard]] T& value() const noexcept { return *value_; }

private:
    Value(detail::LockedBlock block, T init) : lock_(std::move(block.lock)), value_(::new (block.data) T(init)) {}

    mutable RLock lock_;  // acquiring is not a change of the value: load() is const
    T* value_;
};

/// multiprocessing.Array(typecode, size_or_initializer, lock=True): a fixed-size array of T in
/// shared memory, with a process-shared RLock. Element access is raw (unsynchronised), as
/// indexing Python's synchronized array is per element only; hold get_lock() around anything
/// that must be consistent, or take a locked copy with to_vector().
///
/// As with std::vector, `Array<int>(3)` has three zeros and `Array<int>{3}` one 3.
template <class T>
class Array {
    static_assert(std::is_trivially_copyable_v<T>,
                  "aio::mp::Array<T> needs a trivially copyable T: its bytes are shared, its destructor never runs");
    static_assert(alignof(T) <= 4096, "shared memory is page-aligned");

public:
    /// Python Array(typecode, n): n value-initialised (zero) elements.
    explicit Array(std::size_t n) : Array(detail::make_locked_block(n * sizeof(T)), n) {
        std::uninitialized_value_construct_n(data_, n);
    }
    /// Python Array(typecode, [a, b, c]).
    Array(std::initializer_list<T> init) : Array(detail::make_locked_block(init.size() * sizeof(T)), init.size()) {
        std::uninitialized_copy(init.begin(), init.end(), data_);
    }
    /// Python Array(typecode, sequence).
    explicit Array(const std::vector<T>& init) : Array(detail::make_locked_block(init.size() * sizeof(T)), init.size()) {
        std::uninitialized_copy(init.begin(), init.end(), data_);
    }
    Array(const Array&) = default;
    Array& operator=(const Array&) = default;

    /// Python len(a).
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    /// Python a[i], unsynchronised and unchecked.
    [[nodiscard]] T& operator[](std::size_t i) const noexcept { return data_[i]; }
    /// Python get_obj(): the shared elements, unsynchronised.
    [[nodiscard]] T* data() const noexcept { return data_; }
    [[nodiscard]] T* begin() const noexcept { return data_; }
    [[nodiscard]] T* end() const noexcept { return data_ + size_; }
    /// Python get_lock().
    [[nodiscard]] RLock& get_lock() const noexcept { return lock_; }
    /// Python a[:] under the lock: a consistent copy.
    [[nodiscard]] std::vector<T> to_vector() const {
        auto held = lock_.scoped();
        return std::vector<T>(data_, data_ + size_);
    }

private:
    Array(detail::LockedBlock block, std::size_t n)
        : lock_(std::move(block.lock)), data_(static_cast<T*>(block.data)), size_(n) {}

    mutable RLock lock_;
    T* data_;
    std::size_t size_;
};

}  // namespace aio::mp
