import FileSupport
import Foundation

/// One line of the training log: the loss of an optimizer step, and the evaluation losses on
/// steps that ran one. As JSON (the dashboard) its fields are named as `log.csv`'s columns, and
/// a loss that is not a number (step 0 before any training) is left out.
public struct LogRow: Equatable, Sendable, Encodable {
  public var step: Int
  public var loss: Float
  public var learningRate: Float
  public var trainLoss: Float?
  public var valLoss: Float?
  public var tokensPerSecond: Double
  public var elapsed: Double
  /// The global gradient norm before clipping (nil in logs written before it was recorded).
  public var gradNorm: Float?

  static let header = headerBeforeGradNorm + ",grad_norm"
  static let headerBeforeGradNorm = "step,loss,lr,train_loss,val_loss,tokens_per_sec,elapsed_s"

  var csv: String {
    func f(_ x: Float?) -> String { x.map { String(format: "%.9g", $0) } ?? "" }  // 9 digits: exact for Float
    return "\(step),\(f(loss)),\(String(format: "%.9g", learningRate)),\(f(trainLoss)),\(f(valLoss)),"
      + String(format: "%.1f,%.3f,", tokensPerSecond, elapsed) + f(gradNorm)
  }

  public init(step: Int, loss: Float, learningRate: Float, trainLoss: Float?, valLoss: Float?, tokensPerSecond: Double,
              elapsed: Double, gradNorm: Float? = nil) {
    (self.step, self.loss, self.learningRate, self.trainLoss, self.valLoss) = (step, loss, learningRate, trainLoss, valLoss)
    (self.tokensPerSecond, self.elapsed, self.gradNorm) = (tokensPerSecond, elapsed, gradNorm)
  }

  /// A line of `log.csv`; logs of earlier versions have no `grad_norm` column.
  init?(csv line: Substring) {
    let f = line.split(separator: ",", omittingEmptySubsequences: false)
    guard f.count == 7 || f.count == 8, let step = Int(f[0]), let loss = Float(f[1]), let lr = Float(f[2]),
      let rate = Double(f[5]), let elapsed = Double(f[6]) else { return nil }
    self.init(step: step, loss: loss, learningRate: lr, trainLoss: Float(f[3]), valLoss: Float(f[4]),
              tokensPerSecond: rate, elapsed: elapsed, gradNorm: f.count == 8 ? Float(f[7]) : nil)
  }

  enum CodingKeys: String, CodingKey {
    case step, loss, learningRate = "lr", trainLoss = "train_loss", valLoss = "val_loss", tokensPerSecond = "tokens_per_sec",
      elapsed = "elapsed_s", gradNorm = "grad_norm"
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(step, forKey: .step)
    for (value, key) in [(loss, CodingKeys.loss), (learningRate, .learningRate)] where value.isFinite { try c.encode(value, forKey: key) }
    for (value, key) in [(trainLoss, CodingKeys.trainLoss), (valLoss, .valLoss), (gradNorm, .gradNorm)] {
      if let value, value.isFinite { try c.encode(value, forKey: key) }
    }
    try c.encode(tokensPerSecond, forKey: .tokensPerSecond)
    try c.encode(elapsed, forKey: .elapsed)
  }
}

/// The log as CSV text (`log.csv`).
func csvText(_ rows: [LogRow]) -> String {
  ([LogRow.header] + rows.map(\.csv)).joined(separator: "\n") + "\n"
}

/// Reads a `log.csv` written by `csvText` (or by versions before `grad_norm`): a file that is
/// not one, or a line that is not a row of it, is an error naming the line, never skipped.
public func readLog(_ path: String) throws(FileError) -> [LogRow] {
  let lines = try readTextFile(path).split(separator: "\n", omittingEmptySubsequences: false)
  guard let header = lines.first, [LogRow.header, LogRow.headerBeforeGradNorm].contains(String(header)) else {
    throw .malformed(path: path, line: 1, reason: "not a training log: expected the header '\(LogRow.header)'")
  }
  var rows: [LogRow] = []
  for (index, line) in lines.enumerated().dropFirst() where !line.isEmpty {
    guard let row = LogRow(csv: line) else {
      throw .malformed(path: path, line: index + 1, reason: "not a row of a training log ('\(line.prefix(60))')")
    }
    rows.append(row)
  }
  return rows
}

/// A loss-curve picture (SVG): the training loss per step as a thin line, evaluation losses as
/// points joined by lines (train: blue, val: orange), the steps where the run was resumed as
/// dashed lines, and axes with round ticks.
public func lossCurveSVG(_ rows: [LogRow], title: String, resumedAt resumes: [Int] = []) -> String {
  let (width, height, left, right, top, bottom) = (720.0, 420.0, 60.0, 20.0, 40.0, 50.0)
  let losses = rows.flatMap { [$0.loss, $0.trainLoss, $0.valLoss].compactMap { $0 } }.filter(\.isFinite)
  let lossTicks = roundTicks(Double(losses.min() ?? 0), Double(losses.max() ?? 1))
  let stepTicks = roundTicks(0, Double(max(1, rows.last?.step ?? 1)))
  let (lo, hi) = (lossTicks.first!, lossTicks.last!)
  let lastStep = stepTicks.last!
  func x(_ step: Int) -> Double { left + Double(step) / lastStep * (width - left - right) }
  func y(_ loss: Float) -> Double { top + (hi - Double(loss)) / (hi - lo) * (height - top - bottom) }
  func f(_ v: Double) -> String { String(format: "%.1f", v) }
  var svg = """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
    <rect width="100%" height="100%" fill="white"/>
    <text x="\(width / 2)" y="22" text-anchor="middle" font-size="15">\(escapeXML(title))</text>
    <line x1="\(left)" y1="\(height - bottom)" x2="\(width - right)" y2="\(height - bottom)" stroke="black"/>
    <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(height - bottom)" stroke="black"/>
    <text x="\(width / 2)" y="\(height - 12)" text-anchor="middle">step</text>
    <text x="16" y="\(height / 2)" text-anchor="middle" transform="rotate(-90 16 \(height / 2))">loss</text>

    """
  for value in lossTicks {
    let py = f(y(Float(value)))
    svg += "<line x1=\"\(left - 4)\" y1=\"\(py)\" x2=\"\(width - right)\" y2=\"\(py)\" stroke=\"#ddd\"/>"
    svg += "<text x=\"\(left - 8)\" y=\"\(f(y(Float(value)) + 4))\" text-anchor=\"end\">\(tickLabel(value, ticks: lossTicks))</text>\n"
  }
  for value in stepTicks {
    svg += "<text x=\"\(f(x(Int(value))))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(Int(value))</text>\n"
  }
  for step in resumes {
    svg += "<line x1=\"\(f(x(step)))\" y1=\"\(top)\" x2=\"\(f(x(step)))\" y2=\"\(height - bottom)\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>"
    svg += "<text x=\"\(f(x(step) + 3))\" y=\"\(top + 56)\" fill=\"#888\">resumed</text>\n"
  }
  func line(_ points: [(Int, Float)], _ color: String, _ width: Double) -> String {
    let text = points.filter { $0.1.isFinite }.map { f(x($0.0)) + "," + f(y($0.1)) }.joined(separator: " ")
    return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(width)\" points=\"\(text)\"/>\n"
  }
  svg += line(rows.map { ($0.step, $0.loss) }, "#9ab", 1)
  for (values, color) in [(rows.compactMap { r in r.trainLoss.map { (r.step, $0) } }, "#1f77b4"),
                          (rows.compactMap { r in r.valLoss.map { (r.step, $0) } }, "#ff7f0e")] {
    svg += line(values, color, 1.5)
    for (step, loss) in values where loss.isFinite {
      svg += "<circle cx=\"\(f(x(step)))\" cy=\"\(f(y(loss)))\" r=\"3.5\" fill=\"\(color)\"/>\n"
    }
  }
  svg += "<text x=\"\(width - right - 150)\" y=\"\(top + 10)\" fill=\"#9ab\">— step loss</text>"
  svg += "<text x=\"\(width - right - 150)\" y=\"\(top + 26)\" fill=\"#1f77b4\">● train (eval)</text>"
  svg += "<text x=\"\(width - right - 150)\" y=\"\(top + 42)\" fill=\"#ff7f0e\">● val (eval)</text>\n</svg>\n"
  return svg
}

/// Round axis ticks covering `lo...hi`: multiples of 1, 2 or 5 × 10ᵏ, four to eight of them.
func roundTicks(_ lo: Double, _ hi: Double) -> [Double] {
  let hi = max(hi, lo + 1e-3)
  let rough = (hi - lo) / 5
  let magnitude = pow(10, (log10(rough)).rounded(.down))
  let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { (hi - lo) / $0 <= 7 } ?? 10 * magnitude
  let first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
  return stride(from: first, through: last, by: 1).map { $0 * step }
}

/// A tick's label with as many decimals as the tick spacing needs.
private func tickLabel(_ value: Double, ticks: [Double]) -> String {
  let spacing = ticks.count > 1 ? ticks[1] - ticks[0] : 1
  let decimals = max(0, Int((-log10(spacing)).rounded(.up)))
  return String(format: "%.\(decimals)f", value)
}

private func escapeXML(_ s: String) -> String {
  s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
