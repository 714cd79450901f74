-- Where each ingest node can be reached, as its heartbeat reports it (SPEC §5: nodes register with
-- their public RTMP/RTMPS/HLS URLs).
ALTER TABLE ingest_nodes ADD COLUMN rtmp_url text, ADD COLUMN rtmps_url text, ADD COLUMN hls_url text;
