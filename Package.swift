// swift-tools-version:6.0
import PackageDescription

// Numeric and tokenizer code is built for a modern x86-64 CPU (AVX2 + FMA) by default:
// on the baseline x86-64 target `SIMD.addProduct` becomes a libm call per lane.
#if arch(x86_64)
let optimized: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let optimized: [SwiftSetting] = []
#endif
// The tensor engine's kernels are always optimised, in debug builds (and `swift test`) too:
// unoptimised SIMD code is about 100× slower.
let kernels: [SwiftSetting] = optimized + [.unsafeFlags(["-Ounchecked"])]

let package = Package(
  name: "SwiftGPT",
  products: [
    .library(name: "SwiftGPT", targets: ["FileSupport", "Tokenizers", "CUDA", "TensorEngine", "Models", "Inference", "Training"]),
    .executable(name: "swiftgpt", targets: ["swiftgpt"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
  ],
  targets: [
    .target(name: "FileSupport"),
    .target(
      name: "Tokenizers", dependencies: ["FileSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      // The schema the SentencePiece reader is generated from (sentencepiece_model.pb.swift).
      exclude: ["SentencePiece/sentencepiece_model.proto"], swiftSettings: optimized),
    // The GPU backend: CUDA's libraries are opened at run time (nothing CUDA is needed to build),
    // and the kernels' CUDA C is compiled into the binary (`PackageResources`) for NVRTC.
    .target(name: "CUDA", dependencies: ["FileSupport"], resources: [.embedInCode("Kernels")], swiftSettings: optimized),
    // One C header: the cache prefetch hint the kernels use, which Swift cannot express.
    .target(name: "CPrefetch"),
    .target(name: "TensorEngine", dependencies: ["CUDA", "CPrefetch"], swiftSettings: kernels),
    .target(name: "Models", dependencies: ["FileSupport", "TensorEngine"], swiftSettings: kernels),
    .target(name: "Inference", dependencies: ["FileSupport", "TensorEngine", "Models", "Tokenizers"], swiftSettings: kernels),
    .target(
      name: "Server",
      dependencies: ["FileSupport", "TensorEngine", "Models", "Tokenizers", "Inference", "Training",
                     .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                     .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"),
                     .product(name: "Prometheus", package: "swift-prometheus")],
      // The playground's pages, compiled into the binary (`PackageResources`).
      resources: [.embedInCode("Playground")],
      swiftSettings: optimized),
    .target(name: "Training", dependencies: ["FileSupport", "CUDA", "TensorEngine", "Models", "Tokenizers", "Inference"],
            swiftSettings: kernels),
    .executableTarget(
      name: "swiftgpt",
      dependencies: [
        "FileSupport", "Tokenizers", "CUDA", "TensorEngine", "Models", "Inference", "Training", "Server",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: optimized),
    .testTarget(name: "TokenizersTests", dependencies: ["FileSupport", "Tokenizers"], swiftSettings: optimized),
    .testTarget(name: "CUDATests", dependencies: ["CUDA", "TensorEngine", "Models", "Training"], exclude: ["Fixtures"], swiftSettings: optimized),
    .testTarget(name: "TensorEngineTests", dependencies: ["TensorEngine"], swiftSettings: optimized),
    .testTarget(name: "ModelsTests", dependencies: ["FileSupport", "Models", "Inference", "Training", "Tokenizers"],
                swiftSettings: optimized),
    .testTarget(name: "CLITests", dependencies: ["swiftgpt"]),
    .testTarget(
      name: "ServerTests",
      dependencies: ["Server", "Models", "Tokenizers", "Inference", "TensorEngine", "Training",
                     .product(name: "HummingbirdTesting", package: "hummingbird"),
                     .product(name: "HTTPTypes", package: "swift-http-types")],
      swiftSettings: optimized),
  ]
)
