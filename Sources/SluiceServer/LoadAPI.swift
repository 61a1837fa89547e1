import SluiceCore
import SluiceAWS
import SluiceStreams

extension Service {
    /// `POST /v1/load?stream=NAME`: one batch of a bulk load through the server (`.load` in a
    /// REPL attached to it, `sluice run --input` against it), the records as frames
    /// (`PackedRecords.frames`). They are put as a local load puts them (`StreamStore.loadRecords`:
    /// at a millisecond of their own, later than every earlier put's to the stream), so the order
    /// in which a query meets a load's records does not depend on its speed here either, as it
    /// does with PutRecords at the server's clock. Answers `{"records": N, "failed": [i, ...]}`
    /// (by position, the records a throughput limit or a storage failure refused, for the
    /// client to put again), or an error as the Kinesis API's (`__type`, `message`): a body that
    /// is not frames, a stream that does not exist, a record a put refuses.
    func load(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "POST" else { return .text(405, "POST a load's records to /v1/load?stream=NAME\n") }
        // Under --require-auth, as the Kinesis API: signed (or the console's token).
        if let refusal = refusedUnsigned(request) { return refusal }
        guard let stream = request.query("stream") else { return APIError.missing("streamName").response }
        let records: PackedRecords
        do throws(PackedRecords.FrameError) {
            records = try PackedRecords(frames: request.body)
        } catch {
            return APIError.serialization(error.message).response
        }
        let result: LoadResult
        do throws(StreamError) {
            result = try store.loadRecords(stream: stream, packed: records)
        } catch {
            return redacted(APIError(error).response, "Load")
        }
        let body: JSONValue = ["records": .int(Int64(records.count)), "failed": .array(result.failed.map { .int(Int64($0)) })]
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array((body.serialized() + "\n").utf8))
    }
}
