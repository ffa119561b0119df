// mpi4py.futures' Julia-set example, in C++: the image's rows computed by MPI ranks through the
// executor's map, then written as a PGM file in input order.
//
//     def julia_line(k):
//         line = bytearray(w)
//         y = y1 - k * dy
//         for j in range(w):
//             line[j] = julia(x0 + j * dx, y)
//         return line
//     with MPIPoolExecutor() as executor:
//         image = executor.map(julia_line, range(h))
//         with open('julia.pgm', 'wb') as f: ...
//
// The same rows are computed in this process too, to show the speed-up and that the images agree.
// Standalone: examples/mpi_julia. In the CLI: aiocpp demo mpi_julia (writes julia.pgm in the
// system's temporary directory).
#include <unistd.h>

#include <chrono>
#include <complex>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fmt/core.h>

#include "aio/aio.hpp"
#include "demo.hpp"

namespace {

// The tutorial's picture: 1280 x 960 pixels of the plane [-2, 2] x [-1.5, 1.5], c = 0.65i.
constexpr double kX0 = -2.0, kX1 = 2.0, kY0 = -1.5, kY1 = 1.5;
constexpr int kW = 640 * 2, kH = 480 * 2;
constexpr double kDx = (kX1 - kX0) / kW, kDy = (kY1 - kY0) / kH;
const std::complex<double> kC(0, 0.65);

/// The tutorial's julia(x, y): 255 minus the iterations before |z| reaches 3 (at least 1).
uint8_t julia(double x, double y) {
    std::complex<double> z(x, y);
    int n = 255;
    while (std::abs(z) < 3 && n > 1) {
        z = z * z + kC;
        --n;
    }
    return static_cast<uint8_t>(n);
}

/// Row k of the image.
std::vector<uint8_t> julia_line(int k) {
    std::vector<uint8_t> line(kW);
    const double y = kY1 - k * kDy;
    for (int j = 0; j < kW; ++j) line[static_cast<size_t>(j)] = julia(kX0 + j * kDx, y);
    return line;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

#if defined(AIO_HAVE_MPI)
AIO_MPI_REGISTER(julia_line);

void run(const aio_demo::Options& options) {
    aio_demo::prepare_mpi();
    const int ranks = options.mpi > 0 ? options.mpi : aio::mp::cpu_count();
    std::vector<int> rows(kH);
    for (int k = 0; k < kH; ++k) rows[static_cast<size_t>(k)] = k;

    fmt::print("The Julia set for c = 0.65i, {} x {} pixels, row by row.\n\n", kW, kH);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::vector<uint8_t>> one;
    for (int k : rows) one.push_back(julia_line(k));
    const double t_one = seconds_since(t0);
    fmt::print("in this process:                        {:.3f} s\n", t_one);

    t0 = std::chrono::steady_clock::now();
    aio::mpi::MPIPoolExecutor executor(ranks);
    executor.bootup();
    const double t_start = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    std::vector<std::vector<uint8_t>> image;
    for (auto line : executor.map(julia_line, rows, {.chunksize = 16})) image.push_back(std::move(line));
    const double t_map = seconds_since(t0);
    fmt::print("MPIPoolExecutor({}).map, chunksize 16:  {:.3f} s (after {:.0f} ms to spawn the ranks), speed-up {:.2f}x\n",
               ranks, t_map, t_start * 1000, t_one / t_map);
    fmt::print("the two images are the same: {}\n", image == one ? "yes" : "NO");

    const auto path = std::filesystem::temp_directory_path() / "julia.pgm";
    std::ofstream f(path, std::ios::binary);
    f << "P5 " << kW << ' ' << kH << " 255\n";
    for (const auto& line : image) f.write(reinterpret_cast<const char*>(line.data()), static_cast<std::streamsize>(line.size()));
    f.close();
    fmt::print("wrote {} ({} bytes): view it with any image viewer\n", path.string(), std::filesystem::file_size(path));
    fmt::print("\nmap hands the rows to the ranks {} at a time and yields them in row order, so the file is written\n"
               "top to bottom as the results arrive. Rows near the set take far more iterations than rows far\n"
               "from it: small chunks keep every rank busy until the end. With {} CPUs the speed-up is at most\n"
               "{}x; more ranks on more machines (a hostfile, docs/mpi.md) is what MPI is for.\n",
               16, aio::mp::cpu_count(), aio::mp::cpu_count());
}
#else
void run(const aio_demo::Options&) { fmt::print("This build has no MPI layer (install libopenmpi-dev and rebuild).\n"); }
#endif

const aio_demo::Registration registration{{
    .name = "mpi_julia",
    .number = 0,
    .summary = "mpi4py.futures' Julia-set example: the image's rows mapped over MPI ranks, written as a PGM file.",
    .run = &run,
}};

}  // namespace
