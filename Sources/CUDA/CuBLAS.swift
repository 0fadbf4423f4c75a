/// The arithmetic of the GPU's matrix products. Everything else (activations, gradients,
/// weights and the optimizer's state) stays in FP32.
public enum Precision: String, Sendable, CaseIterable {
  /// FP32 throughout: results match the CPU engine's.
  case fp32
  /// Inputs rounded to TF32 (10-bit mantissa) on the tensor cores, sums in FP32 (sm_80 and newer).
  case tf32
  /// Inputs rounded to bfloat16 (8-bit mantissa) on the tensor cores, sums and results in FP32:
  /// PyTorch's bf16 autocast for products (sm_80 and newer).
  case bf16
}

/// cuBLAS's matrix products, called with the row-major arguments of the CPU engine's `sgemm`
/// (cuBLAS itself is column-major: C = A·B is computed as Cᵀ = Bᵀ·Aᵀ). Inputs are FP32 or
/// bfloat16, results FP32.
public final class CuBLAS: @unchecked Sendable {
  /// What the inputs of a product hold.
  public enum Inputs: Sendable {
    case fp32, bf16
    /// cudaDataType: CUDA_R_32F, CUDA_R_16BF.
    var dataType: Int32 { self == .fp32 ? 0 : 14 }
  }

  public let device: CUDADevice
  /// The cuBLAS library that was loaded.
  public let path: String
  private let handle: OpaquePointer?
  private let setMathMode: @convention(c) (OpaquePointer?, Int32) -> Int32
  private let sgemm: @convention(c) (OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>, UInt64, Int32,
                                     UInt64, Int32, UnsafePointer<Float>, UInt64, Int32) -> Int32
  private let sgemmStridedBatched: @convention(c) (OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>,
                                                   UInt64, Int32, Int64, UInt64, Int32, Int64, UnsafePointer<Float>,
                                                   UInt64, Int32, Int64, Int32) -> Int32
  /// cublasGemmStridedBatchedEx (the batch of one is cublasGemmEx's product).
  private let gemmStridedBatchedEx: @convention(c) (OpaquePointer?, Int32, Int32, Int32, Int32, Int32, UnsafeRawPointer, UInt64,
                                                    Int32, Int32, Int64, UInt64, Int32, Int32, Int64, UnsafeRawPointer, UInt64,
                                                    Int32, Int32, Int64, Int32, Int32, Int32) -> Int32

  /// Loads the CUDA runtime, cuBLASLt and cuBLAS and creates a handle on `device`'s primary context.
  public init(device: CUDADevice, search: LibrarySearch = LibrarySearch()) throws(CUDAError) {
    self.device = device
    // cuBLAS runs on the runtime API, which must be initialised on this device first.
    let runtime = try SharedLibrary.open(.runtime, search: search)
    let setDevice: @convention(c) (Int32) -> Int32 = try runtime.symbol("cudaSetDevice")
    let free: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = try runtime.symbol("cudaFree")
    try device.makeCurrent()
    if case let status = setDevice(Int32(device.ordinal)), status != 0 { throw .cublas(call: "cudaSetDevice", status: status) }
    if case let status = free(nil), status != 0 { throw .cublas(call: "cudaFree(0)", status: status) }
    _ = try SharedLibrary.open(.cublasLt, search: search)
    let library = try SharedLibrary.open(.cublas, search: search)
    path = library.path
    let create: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32 = try library.symbol("cublasCreate_v2")
    setMathMode = try library.symbol("cublasSetMathMode")
    sgemm = try library.symbol("cublasSgemm_v2")
    sgemmStridedBatched = try library.symbol("cublasSgemmStridedBatched")
    gemmStridedBatchedEx = try library.symbol("cublasGemmStridedBatchedEx")
    var handle: OpaquePointer?
    if case let status = create(&handle), status != 0 { throw .cublas(call: "cublasCreate_v2", status: status) }
    self.handle = handle
  }

  /// Whether FP32 products may round their inputs to TF32 on the tensor cores (sm_80 and newer).
  public func allowTF32(_ allowed: Bool) throws(CUDAError) {
    if case let status = setMathMode(handle, allowed ? 3 : 0), status != 0 {
      throw .cublas(call: "cublasSetMathMode", status: status)
    }
  }

  /// Row-major C[M, N] (+)= op(A)[M, K] · op(B)[K, N] for `batch.count` matrices `batch.strides`
  /// elements apart: the CPU engine's `sgemm`. A and B hold `inputs`; C is FP32, and so are the sums.
  public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: any DeviceMemory, lda: Int, b: any DeviceMemory,
                   ldb: Int, c: any DeviceMemory, ldc: Int, accumulate: Bool,
                   batch: (count: Int, strides: (a: Int, b: Int, c: Int)) = (1, (0, 0, 0)), inputs: Inputs = .fp32) throws(CUDAError) {
    try device.makeCurrent()
    var alpha: Float = 1, beta: Float = accumulate ? 1 : 0
    let (pa, pb, pc) = (a.pointer.address, b.pointer.address, c.pointer.address)
    // Column-major Cᵀ[N, M] = op(B)ᵀ · op(A)ᵀ: B comes first, the sizes swap.
    let (opB, opA) = (Int32(transB ? 1 : 0), Int32(transA ? 1 : 0))
    let status: Int32, call: String
    if inputs == .bf16 {
      // CUBLAS_COMPUTE_32F (68), CUBLAS_GEMM_DEFAULT (-1).
      call = "cublasGemmStridedBatchedEx"
      status = gemmStridedBatchedEx(handle, opB, opA, Int32(n), Int32(m), Int32(k), &alpha, pb, inputs.dataType, Int32(ldb),
                                    Int64(batch.strides.b), pa, inputs.dataType, Int32(lda), Int64(batch.strides.a), &beta, pc,
                                    Inputs.fp32.dataType, Int32(ldc), Int64(batch.strides.c), Int32(batch.count), 68, -1)
    } else if batch.count == 1 {
      call = "cublasSgemm_v2"
      status = sgemm(handle, opB, opA, Int32(n), Int32(m), Int32(k), &alpha, pb, Int32(ldb), pa, Int32(lda), &beta, pc, Int32(ldc))
    } else {
      call = "cublasSgemmStridedBatched"
      status = sgemmStridedBatched(handle, opB, opA, Int32(n), Int32(m), Int32(k), &alpha, pb, Int32(ldb),
                                   Int64(batch.strides.b), pa, Int32(lda), Int64(batch.strides.a), &beta, pc, Int32(ldc),
                                   Int64(batch.strides.c), Int32(batch.count))
    }
    if status != 0 { throw .cublas(call: call, status: status) }
  }
}
