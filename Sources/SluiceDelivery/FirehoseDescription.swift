public import SluiceCore
public import SluiceStreams

extension FirehoseConfig {
    /// The firehose's ARN in the store's region and account.
    public func arn(_ store: StreamStore) -> String {
        "arn:aws:firehose:\(store.configuration.region):\(store.configuration.accountId):deliverystream/\(name)"
    }

    /// Firehose's `DeliveryStreamDescription`, as DescribeDeliveryStream answers and
    /// `sluice firehose describe` prints it: one ExtendedS3 destination (the directory stands in
    /// for the bucket unless the API named one), ACTIVE from the moment it is defined.
    public func apiDescription(_ store: StreamStore) -> JSONValue {
        let region = store.configuration.region, account = store.configuration.accountId
        var s3 = JSONObject()
        if let r = roleARN { s3["RoleARN"] = .string(r) }
        s3["BucketARN"] = .string(bucketARN ?? "file:" + directory)
        s3["Prefix"] = .string(prefix)
        s3["ErrorOutputPrefix"] = .string(errorPrefix)
        s3["BufferingHints"] = ["SizeInMBs": .int(Int64(bufferSizeBytes >> 20)), "IntervalInSeconds": .int(bufferIntervalMillis / 1000)]
        s3["CompressionFormat"] = .string(compression.rawValue)
        s3["EncryptionConfiguration"] = ["NoEncryptionConfig": "NoEncryption"]
        var o = JSONObject()
        o["DeliveryStreamName"] = .string(name)
        o["DeliveryStreamARN"] = .string(arn(store))
        o["DeliveryStreamStatus"] = "ACTIVE"
        if let e = encryption {
            var c: JSONObject = ["KeyType": .string(e.keyType), "Status": e.enabled ? "ENABLED" : "DISABLED"]
            if let k = e.keyARN { c["KeyARN"] = .string(k) }
            o["DeliveryStreamEncryptionConfiguration"] = .object(c)
        } else {
            o["DeliveryStreamEncryptionConfiguration"] = ["Status": "DISABLED"]
        }
        o["DeliveryStreamType"] = .string(isDirectPut ? "DirectPut" : "KinesisStreamAsSource")
        if let s = sourceStream {
            var k: JSONObject = ["KinesisStreamARN": .string("arn:aws:kinesis:\(region):\(account):stream/\(s)")]
            if let r = roleARN { k["RoleARN"] = .string(r) }
            if createdMillis > 0 { k["DeliveryStartTimestamp"] = .double(Double(createdMillis) / 1000) }
            o["Source"] = ["KinesisStreamSourceDescription": .object(k)]
        }
        o["VersionId"] = .string(String(version))
        if createdMillis > 0 { o["CreateTimestamp"] = .double(Double(createdMillis) / 1000) }
        if lastUpdateMillis > 0 { o["LastUpdateTimestamp"] = .double(Double(lastUpdateMillis) / 1000) }
        o["Destinations"] = .array([["DestinationId": "destinationId-000000000001", "ExtendedS3DestinationDescription": .object(s3),
                                     "S3DestinationDescription": .object(s3)]])
        o["HasMoreDestinations"] = false
        return .object(o)
    }
}
