// swift-tools-version:6.0
import PackageDescription

// Numeric and tokenizer code is built for a modern x86-64 CPU (AVX2 + FMA) by default:
// on the baseline x86-64 target `SIMD.addProduct` becomes a libm call per lane.
#if arch(x86_64)
let optimized: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let optimized: [SwiftSetting] = []
#endif

let package = Package(
  name: "SwiftGPT",
  products: [
    .library(name: "SwiftGPT", targets: ["Tokenizers"]),
    .executable(name: "swiftgpt", targets: ["swiftgpt"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
  ],
  targets: [
    .target(name: "Tokenizers", swiftSettings: optimized),
    .executableTarget(
      name: "swiftgpt",
      dependencies: [
        "Tokenizers",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: optimized),
    .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers"], swiftSettings: optimized),
    .testTarget(name: "CLITests", dependencies: ["swiftgpt"]),
  ]
)
