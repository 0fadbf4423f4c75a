import Foundation
import Testing

@testable import CUDA
import Models
@testable import TensorEngine
@testable import Training

/// A temporary folder tree, removed at the end of the test.
final class TemporaryTree {
  let root = NSTemporaryDirectory() + "swiftgpt-cuda-\(UUID().uuidString)"
  init() { try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) }
  deinit { try? FileManager.default.removeItem(atPath: root) }
  func file(_ path: String, _ text: String = "not a library") {
    let full = root + "/" + path
    try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try! text.write(toFile: full, atomically: true, encoding: .utf8)
  }
}

/// NVRTC when this machine has it (`pip install nvidia-cuda-nvrtc`), else nil with the reason printed.
private let nvrtc: NVRTC? = {
  do { return try NVRTC.load() } catch {
    print("NVRTC tests skipped: \(error)")
    return nil
  }
}()

@Suite struct LibrarySearchTests {
  @Test func overrideFirstThenSonameThenWheelsThenToolkit() {
    let tree = TemporaryTree()
    tree.file("custom/libnvrtc.so.13")
    tree.file("venv/lib/python3.12/site-packages/nvidia/cu13/lib/libnvrtc.so.13")
    tree.file("home/.local/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12")
    tree.file("usr/local/cuda/lib64/libnvrtc.so.12")
    tree.file("usr/local/cuda/lib64/libcublas.so.13")
    let search = LibrarySearch(
      environment: ["SWIFTGPT_CUDA_LIBS": tree.root + "/missing:" + tree.root + "/custom", "VIRTUAL_ENV": tree.root + "/venv",
                    "HOME": tree.root + "/home"],
      root: tree.root)
    #expect(search.candidates(for: .nvrtc) == [
      tree.root + "/custom/libnvrtc.so.13", "libnvrtc.so.13", "libnvrtc.so.12",
      tree.root + "/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libnvrtc.so.13",
      tree.root + "/home/.local/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
      tree.root + "/usr/local/cuda/lib64/libnvrtc.so.12",
    ])
    // The driver is never in a wheel or a toolkit folder: only its soname is offered.
    #expect(search.candidates(for: .driver) == ["libcuda.so.1"])
    #expect(search.candidates(for: .cublas) == ["libcublas.so.13", "libcublas.so.12", tree.root + "/usr/local/cuda/lib64/libcublas.so.13"])
  }

  @Test func aMissingLibrarySaysWhatWasTriedAndWhatToInstall() {
    let tree = TemporaryTree()
    tree.file("custom/libcuda.so.1")  // not an ELF file: dlopen refuses it
    let search = LibrarySearch(environment: ["SWIFTGPT_CUDA_LIBS": tree.root + "/custom"], root: tree.root)
    #expect(throws: CUDAError.self) { try SharedLibrary.open(.driver, search: search) }
    do {
      _ = try SharedLibrary.open(.driver, search: search)
    } catch {
      let message = error.description
      #expect(message.hasPrefix("libcuda.so.1: not found ("))
      #expect(message.contains(tree.root + "/custom/libcuda.so.1"))
      #expect(message.hasSuffix("install the NVIDIA driver (it provides libcuda.so.1)"))
      #expect(!message.contains("\n"))
    }
  }

  @Test func errorsAreOneLineNamingTheCall() {
    #expect(CUDAError.driver(call: "cuMemAlloc_v2(64 bytes)", code: 2, name: "CUDA_ERROR_OUT_OF_MEMORY", message: "out of memory")
      .description == "cuMemAlloc_v2(64 bytes) failed: out of GPU memory (CUDA_ERROR_OUT_OF_MEMORY)")
    #expect(CUDAError.driver(call: "cuInit", code: 999, name: "CUDA_ERROR_UNKNOWN", message: "unknown error").description
      == "cuInit failed: CUDA_ERROR_UNKNOWN (999): unknown error")
    #expect(CUDAError.cublas(call: "cublasCreate_v2", status: 3).description == "cublasCreate_v2 failed with status 3 (out of GPU memory)")
  }

  @Test func cacheFolderFollowsXDG() {
    #expect(KernelLibrary.defaultCacheFolder(environment: ["XDG_CACHE_HOME": "/c", "HOME": "/h"]) == "/c/swiftgpt/cuda")
    #expect(KernelLibrary.defaultCacheFolder(environment: ["HOME": "/h"]) == "/h/.cache/swiftgpt/cuda")
    #expect(KernelLibrary.defaultCacheFolder(environment: [:]) == nil)
    #expect(fnv1a("") == "cbf29ce484222325")
    #expect(fnv1a("a") == "af63dc4c8601ec8c")
  }
}

@Suite struct KernelCompilationTests {
  /// Every kernel compiles under NVRTC for Ampere and Hopper, and each one is in the CUBIN.
  @Test(arguments: ["sm_80", "sm_90"])
  func everyKernelCompiles(architecture: String) throws {
    guard let nvrtc else { return }
    let (image, cached) = try KernelLibrary.cubin(nvrtc: nvrtc, architecture: architecture, cacheFolder: nil)
    #expect(!cached)
    #expect(image.starts(with: [0x7f, 0x45, 0x4c, 0x46]))  // an ELF file
    let names = KernelLibrary.kernelNames
    #expect(names.count == 26)
    #expect(names.prefix(3) == ["column_sum_partials", "add_partials", "add_broadcast"])
    for name in names { #expect(image.firstRange(of: Array(name.utf8)) != nil, "\(name) is not in the \(architecture) CUBIN") }
  }

  @Test func compiledKernelsAreCachedByArchitectureAndSource() throws {
    guard let nvrtc else { return }
    let tree = TemporaryTree()
    let first = try KernelLibrary.cubin(nvrtc: nvrtc, architecture: "sm_90", cacheFolder: tree.root + "/cache")
    let second = try KernelLibrary.cubin(nvrtc: nvrtc, architecture: "sm_90", cacheFolder: tree.root + "/cache")
    #expect(!first.cached && second.cached && first.image == second.image)
    #expect(try FileManager.default.contentsOfDirectory(atPath: tree.root + "/cache").count == 1)
  }

  @Test func aCompileErrorIsOneLineWithTheCompilersMessage() throws {
    guard let nvrtc else { return }
    #expect(throws: CUDAError.self) {
      try nvrtc.compile("extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }", name: "bad.cu", architecture: "sm_90")
    }
    do {
      _ = try nvrtc.compile("extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }", name: "bad.cu", architecture: "sm_90")
    } catch {
      #expect(error.description.hasPrefix("nvrtcCompileProgram(bad.cu, sm_90) failed: NVRTC_ERROR_COMPILATION (6): bad.cu(1)"))
      #expect(error.description.contains("identifier \"undefined_name\" is undefined"))
      #expect(!error.description.contains("\n"))
    }
  }
}

/// `KERNEL(name)` for each kernel, `PLAIN_KERNEL(name)` for those whose body (up to the next
/// kernel) reaches no barrier or shuffle, so the emulator may run their threads as a plain loop.
private func kernelTable() -> String {
  let declaration = "extern \"C\" __global__ void "
  let bodies = KernelLibrary.program.components(separatedBy: declaration).dropFirst()
  let synchronizing = ["__syncthreads", "__shfl", "warp_sum", "warp_max", "block_sum", "block_max"]
  return bodies.map { body in
    let name = body.prefix { $0 != "(" }
    return synchronizing.contains { body.contains($0) } ? "KERNEL(\(name))\n" : "PLAIN_KERNEL(\(name))\n"
  }.joined()
}

/// Builds `Fixtures/fake_cuda.cpp` (the driver, runtime and cuBLAS on the CPU, the kernels run by
/// `emulator.h`) into `folder` under the CUDA sonames, or returns false (printing why) when there
/// is no C++ compiler.
private func buildFakeCUDA(in folder: String, defines: [String] = []) -> Bool {
  let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
  try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  try? KernelLibrary.program.write(toFile: folder + "/program.cu", atomically: true, encoding: .utf8)
  try? kernelTable().write(toFile: folder + "/kernel_table.inc", atomically: true, encoding: .utf8)
  let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
  let compilers = ["c++", "g++", "clang++"].flatMap { name in path.split(separator: ":").map { "\($0)/\(name)" } }
  for compiler in compilers where FileManager.default.isExecutableFile(atPath: compiler) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: compiler)
    process.arguments = ["-std=c++17", "-shared", "-fPIC", "-O1", "-I", folder, "-I", fixtures,
                         "-o", folder + "/libcuda.so.1", fixtures + "/fake_cuda.cpp"] + defines
    let errors = Pipe()
    process.standardError = errors
    guard (try? process.run()) != nil else { continue }
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      Issue.record("\(compiler) cannot build the fake CUDA libraries: \(message.split(separator: "\n").first { $0.contains("error") } ?? "")")
      return false
    }
    for name in ["libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13"] {
      try? FileManager.default.copyItem(atPath: folder + "/libcuda.so.1", toPath: folder + "/" + name)
    }
    return true
  }
  print("fake CUDA tests skipped: no C++ compiler found")
  return false
}

/// The fake CUDA libraries with a GPU, built once for every test that uses them, in a temporary
/// folder named by what they are built from (a later run reuses it), or nil without a C++ compiler.
private let fakeCUDA: LibrarySearch? = {
  let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
  let sources = ["emulator.h", "fake_cuda.cpp"].compactMap { try? String(contentsOfFile: fixtures + "/" + $0, encoding: .utf8) }
  let folder = NSTemporaryDirectory() + "swiftgpt-fake-cuda-" + fnv1a(KernelLibrary.program + sources.joined())
  if !FileManager.default.fileExists(atPath: folder + "/libcublas.so.13") {
    let building = folder + "-\(getpid())"
    guard buildFakeCUDA(in: building) else { return nil }
    try? FileManager.default.moveItem(atPath: building, toPath: folder)  // another run may have won: either is fine
    try? FileManager.default.removeItem(atPath: building)
  }
  return LibrarySearch(environment: ["SWIFTGPT_CUDA_LIBS": folder], root: folder)
}()

@Suite struct DriverBindingTests {
  @Test func aFakeDriverIsOpenedAndEveryArgumentTypeReachesTheKernel() throws {
    guard let search = fakeCUDA else { return }
    let device = try CUDADevice(search: search)
    #expect(device.name == "Fake H200")
    #expect(device.architecture == "sm_90")
    #expect(device.multiprocessors == 132 && device.totalMemory == 141 << 30)
    #expect(device.driverVersion == (13, 0))
    #expect(device.driverPath == search.environment["SWIFTGPT_CUDA_LIBS"]! + "/libcuda.so.1")
    #expect(try device.memoryInfo().free == 140 << 30)

    let buffer = try device.upload([Float](repeating: -1, count: 16))
    let kernel = try device.load(module: [0]).kernel("probe")
    try device.launch(kernel, grid: (3, 1, 1), block: (128, 1, 1), sharedBytes: 48,
                      [.pointer(DevicePointer(buffer, offset: 2)), .int(-7), .long(5_000_000_000), .float(0.25), .null])
    let got = try buffer.values(Float.self, count: 9)
    #expect(got == [-1, -1, -7, 5_000_000_000, 0.25, 1, 3, 128, 48])
    #expect(try device.allocate(Float.self, count: 4).values(Float.self, count: 4) == [0, 0, 0, 0])  // zero-filled
  }

  @Test func driverErrorsNameTheCallAndTheCause() throws {
    guard let search = fakeCUDA else { return }
    let device = try CUDADevice(search: search)
    #expect(throws: CUDAError.driver(call: "cuModuleGetFunction(missing)", code: 500, name: "CUDA_ERROR_NOT_FOUND",
                                     message: "named symbol not found")) {
      try device.load(module: [0]).kernel("missing")
    }
    do {
      _ = try device.allocate(Float.self, count: 1 << 39)
      Issue.record("a 2 TiB allocation succeeded")
    } catch {
      #expect(error.description == "cuMemAlloc_v2(2199023255552 bytes) failed: out of GPU memory (CUDA_ERROR_OUT_OF_MEMORY)")
    }
  }

  @Test func aDriverWithoutAGPUSaysSo() throws {
    let tree = TemporaryTree()
    guard buildFakeCUDA(in: tree.root + "/empty", defines: ["-DNO_DEVICE"]) else { return }
    #expect(throws: CUDAError.noDevice("the driver (\(tree.root)/empty/libcuda.so.1) reports no CUDA device")) {
      try CUDADevice(search: LibrarySearch(environment: ["SWIFTGPT_CUDA_LIBS": tree.root + "/empty"], root: tree.root))
    }
  }
}

/// The ops of the emulated GPU (one for every test), or nil without NVRTC or a C++ compiler.
private let emulatedGPU: CUDAOps? = {
  guard let nvrtc, let search = fakeCUDA else { return nil }
  do {
    let device = try CUDADevice(search: search)
    return CUDAOps(kernels: try KernelLibrary(device: device, nvrtc: nvrtc, cacheFolder: nil), blas: try CuBLAS(device: device, search: search))
  } catch {
    Issue.record("the emulated GPU does not open: \(error)")
    return nil
  }
}()

/// Ops of their own on the emulated GPU (the same kernels and cuBLAS handle), for a test that
/// changes the products' precision while others run.
private func privateEmulatedGPU() -> CUDAOps? {
  emulatedGPU.map { CUDAOps(kernels: $0.kernels, blas: $0.blas) }
}

@Suite struct EmulatedGPUTests {
  /// The whole GPU path on the CPU: the kernels (run by the emulator), their launch wrappers and
  /// the parity check `swiftgpt doctor --check` runs on a real GPU, against the CPU engine. (The
  /// emulated cuBLAS ignores TF32; its bf16 products widen bfloat16 inputs.)
  @Test func everyOpMatchesTheCPUEngine() throws {
    guard let ops = privateEmulatedGPU() else { return }
    let results = try CUDAParity.run(ops)
    #expect(results.count == 39)
    #expect(results.filter { $0.name.hasSuffix(" bf16") || $0.name.contains(" bf16 ") }.count == 6)
    for r in results { #expect(r.passed, "\(r.name): \(r.relativeError) > \(r.tolerance)") }
    #expect(ops.precision == .fp32)
  }

  /// The nearest bfloat16 to x, found by comparing the two candidates around it: ties go to the
  /// even one, and past the largest finite value the next one up is ±2¹²⁸ (infinity); NaN is any NaN.
  static func nearestBFloat16(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7FC0 }
    if x.isInfinite { return UInt16(x.bitPattern >> 16) }
    let below = x.bitPattern & 0xFFFF_0000
    let value = { (bits: UInt32) -> Double in
      let f = Float(bitPattern: bits)
      return f.isInfinite ? (f > 0 ? 0x1p128 : -0x1p128) : Double(f)
    }
    let distances = [below, below &+ 0x1_0000].map { abs(value($0) - Double(x)) }
    if distances[0] != distances[1] { return UInt16((distances[0] < distances[1] ? below : below &+ 0x1_0000) >> 16) }
    return UInt16(below >> 16) & 1 == 0 ? UInt16(below >> 16) : UInt16((below &+ 0x1_0000) >> 16)
  }

  @Test func bfloat16RoundsToNearestTiesToEven() throws {
    guard let ops = emulatedGPU else { return }
    var values: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                           .leastNonzeroMagnitude, .leastNormalMagnitude, 1 + 0x1p-8, 1 + 0x1p-7 + 0x1p-8, 1 + 0x1p-8 + 0x1p-20,
                           1 - 0x1p-9, 3.14159265, -2.71828, 65504, 0x1.5p-133, .nan]  // 0x1.5p-133: a subnormal
    var random = RandomGenerator(seed: 3)
    values += (0..<2000).map { _ in random.nextNormal() * Float(1 << (Int(random.next() % 40))) * 0x1p-20 }
    let x = try ops.device.upload(values)
    let y = try ops.bfloat16(x, count: values.count).values(UInt16.self, count: values.count)
    for (v, bits) in zip(values, y) {
      if v.isNaN {
        #expect(Float(bitPattern: UInt32(bits) << 16).isNaN)
      } else {
        #expect(bits == Self.nearestBFloat16(v), "\(v): \(String(bits, radix: 16))")
      }
    }
  }

  /// With bf16 products the engine's matmul (forward and both gradients, B plain or transposed,
  /// batched or shared) gives the FP32 products of the inputs rounded to bfloat16.
  @Test(arguments: [false, true])
  func bf16ProductsAreFP32ProductsOfRoundedInputs(transposeB: Bool) throws {
    guard let ops = privateEmulatedGPU() else { return }
    try ops.setPrecision(.bf16)
    let rounded = { (v: [Float]) in v.map { Float(bitPattern: UInt32(Self.nearestBFloat16($0)) << 16) } }
    var random = RandomGenerator(seed: 5)
    let (batches, m, k, n) = (3, 5, 40, 7)
    let av = (0..<(batches * m * k)).map { _ in random.nextNormal() }
    let bv = (0..<(k * n)).map { _ in random.nextNormal() }
    let rv = (0..<(batches * m * n)).map { _ in random.nextNormal() }
    let bShape = transposeB ? [n, k] : [k, n]
    func onGPU(_ shape: [Int], _ values: [Float]) -> Tensor {
      let t = Tensor(shape: shape, scalars: values, on: .cuda(ops))
      return Tensor(shape: shape, storage: t.storage, requiresGrad: true)
    }
    let (a, b) = (onGPU([batches, m, k], av), onGPU(bShape, bv))
    let out = matmul(a, b, transposeB: transposeB)
    sum(mul(out, Tensor(shape: out.shape, scalars: rv, on: .cuda(ops)))).backward()
    // The CPU reference: FP32 products of the rounded inputs (the gradient dC = r rounded too).
    let ca = Tensor(shape: [batches, m, k], scalars: rounded(av), requiresGrad: true)
    let cb = Tensor(shape: bShape, scalars: rounded(bv), requiresGrad: true)
    let expected = matmul(ca, cb, transposeB: transposeB)
    let cr = Tensor(shape: out.shape, scalars: rv)
    let da = matmul(Tensor(shape: out.shape, scalars: rounded(rv)), cb, transposeB: !transposeB)
    sum(mul(expected, cr)).backward()
    try ops.checkFailure()
    func close(_ x: [Float], _ y: [Float]) -> Bool { zip(x, y).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) } }
    #expect(close(out.scalars, expected.scalars))
    #expect(close(download(a), da.scalars))
    #expect(ops.precision == .bf16)
    // dB sums over the batches: compare it against the rounded-input products summed the same way.
    let flatA = Tensor(shape: [batches * m, k], scalars: rounded(av))
    let flatR = Tensor(shape: [batches * m, n], scalars: rounded(rv))
    let db = transposeB ? matmul(transpose(flatR, 0, 1), flatA) : matmul(transpose(flatA, 0, 1), flatR)
    #expect(close(download(b), db.scalars))
  }

  /// The gradient of a GPU tensor, on the host.
  func download(_ t: Tensor) -> [Float] { t.grad ?? [] }
}

/// Training on the GPU (emulated): the same model definition, losses, optimizer and checkpoints.
@Suite struct GPUTrainingTests {
  /// A dataset of a repeating pattern over 13 tokens, with a val split, in `tree`.
  func dataset(in tree: TemporaryTree) throws -> (train: TokenDataset, val: TokenDataset) {
    let dir = tree.root + "/data"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for (split, n) in [("train", 3000), ("val", 400)] {
      let writer = try TokenShardWriter(path: dir + "/\(split)_000000.bin", tokenWidth: 2)
      let tokens: [Int] = (0..<n).map { i in (i * 5 + i / 7) % 13 }
      try writer.append(tokens[...])
      try writer.finish()
    }
    return (try TokenDataset(folder: dir, split: "train"), try TokenDataset(folder: dir, split: "val"))
  }

  func options(steps: Int) -> TrainingOptions {
    var o = TrainingOptions()
    (o.batchSize, o.blockSize, o.maxSteps, o.warmupSteps, o.evalEvery, o.evalSteps, o.gradAccum) = (4, 16, steps, 3, 3, 2, 2)
    (o.learningRate, o.minLearningRate, o.gradClip) = (3e-3, 3e-4, 0.5)
    return o
  }

  func gpt() throws -> GPT {
    try GPT(config: GPTConfig(vocabSize: 13, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0.1), seed: 4)
  }

  func relativeDifference(_ a: [Float], _ b: [Float]) -> Float {
    let largest = b.map(abs).max() ?? 0
    return zip(a, b).map { abs($0 - $1) }.max()! / max(largest, .leastNormalMagnitude)
  }

  @Test func stepsMatchTheCPU() throws {
    guard let gpu = emulatedGPU else { return }
    let tree = TemporaryTree()
    let (train, val) = try dataset(in: tree)
    let cpu = try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 8))
    let onGPU = try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 8), device: .cuda(gpu))
    #expect(onGPU.model.parameters.device.gpu === gpu)
    for _ in 0..<8 {
      let (a, b) = (try cpu.trainStep(), try onGPU.trainStep())
      #expect(abs(a.loss - b.loss) <= 1e-5 * a.loss, "loss \(a.loss) on the CPU, \(b.loss) on the GPU")
      #expect(abs(a.gradNorm - b.gradNorm) <= 1e-5 * a.gradNorm, "gradient norm \(a.gradNorm) against \(b.gradNorm)")
    }
    let (ea, eb) = (try cpu.evaluate(), try onGPU.evaluate())
    #expect(abs(ea.val! - eb.val!) <= 1e-5 * ea.val!)
    onGPU.model.parameters.copyToHost()
    let values = { (p: ParameterSet) in Array(UnsafeBufferPointer(start: p.values.base, count: p.count)) }
    #expect(relativeDifference(values(onGPU.model.parameters), values(cpu.model.parameters)) < 1e-5)
  }

  /// bf16 products (PyTorch's autocast): the same run, its losses within 1 % of the CPU's FP32.
  @Test func bf16ProductsTrainAsFP32WithinRounding() throws {
    guard let gpu = privateEmulatedGPU() else { return }
    try gpu.setPrecision(.bf16)
    let tree = TemporaryTree()
    let (train, val) = try dataset(in: tree)
    let cpu = try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 8))
    let onGPU = try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 8), device: .cuda(gpu))
    var differences: [Float] = []
    for _ in 0..<8 {
      let (a, b) = (try cpu.trainStep(), try onGPU.trainStep())
      #expect(abs(a.loss - b.loss) <= 1e-2 * a.loss, "loss \(a.loss) on the CPU, \(b.loss) with bf16 products")
      differences.append(abs(a.loss - b.loss))
    }
    // Rounded, not FP32: the inputs of the products did lose bits.
    #expect(differences.contains { $0 > 1e-6 })
  }

  @Test func aRunMovesBetweenDevicesThroughItsCheckpoints() throws {
    guard let gpu = emulatedGPU else { return }
    let tree = TemporaryTree()
    let (train, val) = try dataset(in: tree)
    let straight = try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 9))
    #expect(try straight.run(out: tree.root + "/cpu") == .finished)
    // 3 steps on the CPU, 3 on the GPU, 3 on the CPU again.
    var calls = 0
    let first = try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 9))
    #expect(try first.run(out: tree.root + "/moved", shouldStop: { calls += 1; return calls > 3 }) == .interrupted)
    calls = 0
    let second = try Trainer(resumingFrom: tree.root + "/moved/latest", train: train, val: val, device: .cuda(gpu))
    #expect(try second.run(out: tree.root + "/moved", shouldStop: { calls += 1; return calls > 3 }) == .interrupted)
    #expect(second.step == 6)
    let third = try Trainer(resumingFrom: tree.root + "/moved/latest", train: train, val: val)
    #expect(try third.run(out: tree.root + "/moved") == .finished)
    let losses = (straight.log.map(\.loss), third.log.map(\.loss))
    #expect(losses.0.count == losses.1.count)
    #expect(relativeDifference(losses.1.filter(\.isFinite), losses.0.filter(\.isFinite)) < 1e-5, "\(losses)")
    let (a, b) = (straight.model.parameters, third.model.parameters)
    #expect(relativeDifference(Array(UnsafeBufferPointer(start: b.values.base, count: b.count)),
                               Array(UnsafeBufferPointer(start: a.values.base, count: a.count))) < 1e-4)
  }
}

/// Fine-tuning on the GPU (emulated): SFT with LoRA and GPT-1 task heads, against the CPU.
@Suite struct GPUFineTuningTests {
  func gpt(vocab: Int) throws -> GPT {
    try GPT(config: GPTConfig(vocabSize: vocab, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0.1), seed: 7)
  }

  /// The per-step losses on the CPU and on the emulated GPU agree within `tolerance` relative.
  func expectSameLosses(_ cpu: [Float], _ gpu: [Float], tolerance: Float = 1e-5) {
    #expect(cpu.count == gpu.count && !cpu.isEmpty)
    for (a, b) in zip(cpu, gpu) { #expect(abs(a - b) <= tolerance * abs(a), "loss \(a) on the CPU, \(b) on the GPU") }
  }

  @Test func sftWithLoRAMatchesTheCPU() throws {
    guard let gpu = emulatedGPU else { return }
    let tree = TemporaryTree()
    let path = tree.root + "/chat.jsonl"
    try (0..<12).map { k in #"[{"role": "user", "content": "q\#(k % 4)"}, {"role": "assistant", "content": "a\#(k % 4)a"}]"# }
      .joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    let data = try InstructionDataset(reading: path, template: .chat)
    let encode: (String) -> [Int] = { $0.unicodeScalars.map { Int($0.value) % 100 } }
    var options = FineTuneOptions()
    (options.epochs, options.batchSize, options.lr) = (2, 4, 3e-3)
    var losses: [[Float]] = []
    var adapters: [[Float]] = []
    for device in [Device.cpu, .cuda(gpu)] {
      let (model, tokens) = try InstructionTuning.prepare(try gpt(vocab: 100), existing: nil, template: .chat)
      var run: [Float] = []
      try InstructionTuning.fineTune(model, data: data, tokens: tokens, options: options, lora: LoRAConfig(rank: 4, alpha: 8),
                                     device: device, encode: encode, progress: { run.append($0.loss) })
      losses.append(run)
      #expect(model.parameters.device.gpu == nil && model.adapter!.parameters.device.gpu == nil)  // back on the CPU
      adapters.append(model.adapter!.parameters.tensors.flatMap(\.scalars))
    }
    expectSameLosses(losses[0], losses[1])
    let largest = adapters[0].map(abs).max()!
    #expect(zip(adapters[0], adapters[1]).map { abs($0 - $1) }.max()! <= 1e-4 * largest)
  }

  @Test(arguments: [FineTuneTask.classify, .similar])
  func aTaskHeadTrainsAsOnTheCPU(task: FineTuneTask) throws {
    guard let gpu = emulatedGPU else { return }
    var rng = RandomGenerator(seed: 3)
    let examples = (0..<16).map { k -> TaskExample in
      let a = (0..<6).map { _ in String(UnicodeScalar(97 + UInt8(rng.next() % 25))) }.joined()
      return task == .classify ? TaskExample(texts: [a], label: k % 2) : TaskExample(texts: [a, String(a.reversed())], score: Float(k % 5))
    }
    let data = TaskDataset(task: task, examples: examples, labels: task == .classify ? ["no", "yes"] : [])
    let encode: (String) -> [Int] = { $0.unicodeScalars.map { Int($0.value) - 97 } }
    var options = FineTuneOptions()
    (options.epochs, options.batchSize, options.lr) = (1, 8, 3e-3)
    var losses: [[Float]] = []
    for device in [Device.cpu, .cuda(gpu)] {
      let model = try TaskModel(base: try gpt(vocab: 26), task: task, labels: data.labels, lmCoefficient: 0.5)
      var run: [Float] = []
      try model.fineTune(train: data, options: options, device: device, encode: encode) { run.append($0.loss) }
      losses.append(run)
    }
    expectSameLosses(losses[0], losses[1])
  }
}

/// Generation on the GPU (emulated): the KV-cache decoder with its cache on the device.
@Suite struct GPUGenerationTests {
  @Test func greedyDecodingMatchesTheCPU() throws {
    guard let gpu = emulatedGPU else { return }
    let config = GPTConfig(vocabSize: 50, blockSize: 40, nLayer: 2, nHead: 4, nEmbd: 32)
    var runs: [(tokens: [Int32], logits: [[Float]])] = []
    for device in [Device.cpu, .cuda(gpu)] {
      let model = try GPT(config: config, seed: 11)
      model.parameters.place(on: device)
      var decoder = model.makeDecoder(precision: .float32)
      var logits = decoder.append([3, 14, 15, 9, 26, 5])  // a prompt of 6, then one token at a time
      var run: (tokens: [Int32], logits: [[Float]]) = ([], [logits])
      for _ in 0..<20 {
        let next = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
        run.tokens.append(next)
        logits = decoder.append([next])
        run.logits.append(logits)
      }
      runs.append(run)
    }
    try gpu.checkFailure()
    #expect(runs[0].tokens == runs[1].tokens)
    for (a, b) in zip(runs[0].logits, runs[1].logits) {
      let largest = a.map(abs).max()!
      #expect(zip(a, b).map { abs($0 - $1) }.max()! <= 1e-5 * largest)
    }
  }

  @Test func batchedDecodingOfServerSlotsMatchesTheCPU() throws {
    guard let gpu = emulatedGPU else { return }
    let config = GPTConfig(vocabSize: 50, blockSize: 40, nLayer: 2, nHead: 4, nEmbd: 32)
    var runs: [[[Float]]] = []
    for device in [Device.cpu, .cuda(gpu)] {
      let model = try GPT(config: config, seed: 12)
      model.parameters.place(on: device)
      let decoder = BatchDecoder(model: model, slots: 3)
      var logits = [decoder.prefill(slot: 0, [1, 2, 3]), decoder.prefill(slot: 2, [7, 8, 9, 10, 11])]
      for step in 0..<6 {  // slots 0 and 2 together, slot 1 joining at step 2 with its prompt
        var batch: [(slot: Int, tokens: [Int32])] = [(0, [Int32(step)]), (2, [Int32(40 - step)])]
        if step == 2 { batch.append((1, [5, 6])) }
        if step > 2 { batch.append((1, [Int32(step + 20)])) }
        logits += decoder.step(batch)
      }
      #expect(decoder.failure == nil)
      runs.append(logits)
    }
    #expect(runs[0].count == runs[1].count)
    for (a, b) in zip(runs[0], runs[1]) {
      let largest = a.map(abs).max()!
      #expect(zip(a, b).map { abs($0 - $1) }.max()! <= 1e-5 * largest)
    }
  }
}
