/// A failure of the CUDA stack, as one line that names the call and the cause.
public enum CUDAError: Error, Equatable, CustomStringConvertible {
  /// A library could not be loaded, or lacks a function.
  case libraryMissing(library: String, detail: String)
  /// A driver call returned an error: the call, the code, its name and its description.
  case driver(call: String, code: Int32, name: String, message: String)
  /// An NVRTC call failed (for a compilation, `log` is the compiler's first error line).
  case nvrtc(call: String, code: Int32, message: String, log: String)
  /// A cuBLAS or CUDA runtime call failed.
  case cublas(call: String, status: Int32)
  /// The driver loaded but no usable GPU was found.
  case noDevice(String)
  /// A request the device cannot satisfy (memory, shapes, architecture).
  case unsupported(String)

  public var description: String {
    switch self {
    case .libraryMissing(let library, let detail): "\(library): \(detail)"
    case .driver(let call, let code, let name, let message):
      code == 2 ? "\(call) failed: out of GPU memory (\(name))" : "\(call) failed: \(name) (\(code)): \(message)"
    case .nvrtc(let call, let code, let message, let log):
      "\(call) failed: \(message) (\(code))\(log.isEmpty ? "" : ": \(log)")"
    case .cublas(let call, let status): "\(call) failed with status \(status)\(status == 3 ? " (out of GPU memory)" : "")"
    case .noDevice(let reason): "no usable CUDA GPU: \(reason)"
    case .unsupported(let reason): reason
    }
  }
}
