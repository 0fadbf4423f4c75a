import Foundation

/// One line of the training log: the loss of an optimizer step, and the evaluation losses on
/// steps that ran one.
public struct LogRow: Equatable, Sendable {
  public var step: Int
  public var loss: Float
  public var learningRate: Float
  public var trainLoss: Float?
  public var valLoss: Float?
  public var tokensPerSecond: Double
  public var elapsed: Double

  static let header = "step,loss,lr,train_loss,val_loss,tokens_per_sec,elapsed_s"

  var csv: String {
    func f(_ x: Float?) -> String { x.map { String(format: "%.9g", $0) } ?? "" }  // 9 digits: exact for Float
    return "\(step),\(f(loss)),\(String(format: "%.9g", learningRate)),\(f(trainLoss)),\(f(valLoss)),"
      + String(format: "%.1f,%.3f", tokensPerSecond, elapsed)
  }

  init(step: Int, loss: Float, learningRate: Float, trainLoss: Float?, valLoss: Float?, tokensPerSecond: Double, elapsed: Double) {
    (self.step, self.loss, self.learningRate, self.trainLoss, self.valLoss) = (step, loss, learningRate, trainLoss, valLoss)
    (self.tokensPerSecond, self.elapsed) = (tokensPerSecond, elapsed)
  }

  init?(csv line: Substring) {
    let f = line.split(separator: ",", omittingEmptySubsequences: false)
    guard f.count == 7, let step = Int(f[0]), let loss = Float(f[1]), let lr = Float(f[2]),
      let rate = Double(f[5]), let elapsed = Double(f[6]) else { return nil }
    self.init(step: step, loss: loss, learningRate: lr, trainLoss: Float(f[3]), valLoss: Float(f[4]),
              tokensPerSecond: rate, elapsed: elapsed)
  }
}

/// The log as CSV text (`log.csv`).
func csvText(_ rows: [LogRow]) -> String {
  ([LogRow.header] + rows.map(\.csv)).joined(separator: "\n") + "\n"
}

/// Reads a `log.csv` written by `csvText`; unreadable lines are skipped.
func readLog(_ path: String) -> [LogRow] {
  guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
  return text.split(separator: "\n").dropFirst().compactMap { LogRow(csv: $0) }
}

/// A loss-curve picture (SVG): the training loss per step as a line, evaluation losses as
/// points (train: blue, val: orange), with axes and labels.
public func lossCurveSVG(_ rows: [LogRow], title: String) -> String {
  let (width, height, left, right, top, bottom) = (720.0, 420.0, 60.0, 20.0, 40.0, 50.0)
  let losses = rows.flatMap { [$0.loss, $0.trainLoss, $0.valLoss].compactMap { $0 } }.filter(\.isFinite)
  let lo = Double(losses.min() ?? 0), hi = max(Double(losses.max() ?? 1), lo + 1e-3)
  let lastStep = Double(max(1, rows.last?.step ?? 1))
  func x(_ step: Int) -> Double { left + Double(step) / lastStep * (width - left - right) }
  func y(_ loss: Float) -> Double { top + (hi - Double(loss)) / (hi - lo) * (height - top - bottom) }
  var svg = """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
    <rect width="100%" height="100%" fill="white"/>
    <text x="\(width / 2)" y="22" text-anchor="middle" font-size="15">\(escapeXML(title))</text>
    <line x1="\(left)" y1="\(height - bottom)" x2="\(width - right)" y2="\(height - bottom)" stroke="black"/>
    <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(height - bottom)" stroke="black"/>
    <text x="\(width / 2)" y="\(height - 12)" text-anchor="middle">step</text>
    <text x="16" y="\(height / 2)" text-anchor="middle" transform="rotate(-90 16 \(height / 2))">loss</text>

    """
  for i in 0...4 {
    let value = lo + (hi - lo) * Double(i) / 4
    let py = y(Float(value))
    svg += "<line x1=\"\(left - 4)\" y1=\"\(py)\" x2=\"\(width - right)\" y2=\"\(py)\" stroke=\"#ddd\"/>"
    svg += "<text x=\"\(left - 8)\" y=\"\(py + 4)\" text-anchor=\"end\">\(String(format: "%.2f", value))</text>\n"
    let step = Int(lastStep * Double(i) / 4)
    svg += "<text x=\"\(x(step))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(step)</text>\n"
  }
  let points = rows.filter { $0.loss.isFinite }.map { String(format: "%.1f,%.1f", x($0.step), y($0.loss)) }
  svg += "<polyline fill=\"none\" stroke=\"#9ab\" stroke-width=\"1\" points=\"\(points.joined(separator: " "))\"/>\n"
  for row in rows {
    if let t = row.trainLoss { svg += "<circle cx=\"\(x(row.step))\" cy=\"\(y(t))\" r=\"3.5\" fill=\"#1f77b4\"/>\n" }
    if let v = row.valLoss { svg += "<circle cx=\"\(x(row.step))\" cy=\"\(y(v))\" r=\"3.5\" fill=\"#ff7f0e\"/>\n" }
  }
  svg += "<text x=\"\(width - right - 150)\" y=\"\(top + 10)\" fill=\"#9ab\">— step loss</text>"
  svg += "<text x=\"\(width - right - 150)\" y=\"\(top + 26)\" fill=\"#1f77b4\">● train (eval)</text>"
  svg += "<text x=\"\(width - right - 150)\" y=\"\(top + 42)\" fill=\"#ff7f0e\">● val (eval)</text>\n</svg>\n"
  return svg
}

private func escapeXML(_ s: String) -> String {
  s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
