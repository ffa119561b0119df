// Anonymous shared mappings, and the Value/Array layout (data first, then the lock).
#include "aio/mp/shared.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace aio::mp::detail {

namespace {
std::size_t page_size() noexcept {
    static const auto size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

constexpr std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }
}  // namespace

SharedMemory::SharedMemory(std::size_t bytes) : size_(round_up(bytes == 0 ? 1 : bytes, page_size())) {
    // MAP_SHARED | MAP_ANONYMOUS: shared with fork()ed children, backed by nothing with a name.
    data_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (data_ == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap(MAP_SHARED | MAP_ANONYMOUS)");
}

SharedMemory::~SharedMemory() { ::munmap(data_, size_); }

LockedBlock make_locked_block(std::size_t data_bytes) {
    // The lock gets a cache line of its own, so that writes to the data do not slow it down.
    const std::size_t lock_at = round_up(data_bytes, 64);
    auto mem = std::make_shared<SharedMemory>(lock_at + rlock_state_size());
    void* data = mem->data();
    void* lock = static_cast<unsigned char*>(data) + lock_at;
    return LockedBlock{data, make_rlock_at(std::move(mem), lock)};
}

}  // namespace aio::mp::detail
