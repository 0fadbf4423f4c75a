#if canImport(Glibc)
import Glibc
#endif

/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64), so runs are
/// reproducible from one integer seed and independent of the platform's generator.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
  private var s: (UInt64, UInt64, UInt64, UInt64)

  /// A generator whose whole stream is fixed by `seed`.
  public init(seed: UInt64) {
    var x = seed
    func splitMix() -> UInt64 {
      x &+= 0x9E37_79B9_7F4A_7C15
      var z = x
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  public mutating func next() -> UInt64 {
    let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
    let t = s.1 << 17
    s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
    s.2 ^= t
    s.3 = s.3 << 45 | s.3 >> 19
    return result
  }

  /// A uniform value in [0, 1) with 24 random bits.
  public mutating func nextUniform() -> Float { Float(next() >> 40) * 0x1p-24 }

  /// A standard normal value (Box–Muller).
  public mutating func nextNormal() -> Float {
    let u1 = max(Double(next() >> 11) * 0x1p-53, .leastNonzeroMagnitude)
    let u2 = Double(next() >> 11) * 0x1p-53
    return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
  }

  /// The generator's full state, for checkpoints.
  public var state: [UInt64] { [s.0, s.1, s.2, s.3] }

  /// Restores a generator from `state` (four words from `state`).
  public init?(state: [UInt64]) {
    guard state.count == 4 else { return nil }
    s = (state[0], state[1], state[2], state[3])
  }
}

/// The random stream a training forward pass draws its dropout masks from: a reference, so
/// every layer of the pass advances one generator. A forward pass given none applies no dropout
/// (evaluation, inference).
public final class DropoutRNG {
  public var generator: RandomGenerator

  public init(_ generator: RandomGenerator) { self.generator = generator }
  public convenience init(seed: UInt64) { self.init(RandomGenerator(seed: seed)) }
}
