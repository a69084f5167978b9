<?php
/**
 * Exits 0 when the store database accepts the WordPress user's credentials, 1 otherwise.
 * Reads the same WORDPRESS_DB_* variables as wp-config-docker.php; run by setup.sh before any wp-cli command,
 * because wp-cli cannot tell "database still starting" from "WordPress not installed".
 */
mysqli_report( MYSQLI_REPORT_OFF );
$password = rtrim( (string) file_get_contents( getenv( 'WORDPRESS_DB_PASSWORD_FILE' ) ), "\r\n" );
$link     = @mysqli_connect( getenv( 'WORDPRESS_DB_HOST' ), getenv( 'WORDPRESS_DB_USER' ), $password, getenv( 'WORDPRESS_DB_NAME' ) );
if ( ! $link ) {
	fwrite( STDERR, 'database not ready: ' . mysqli_connect_error() . "\n" );
	exit( 1 );
}
mysqli_close( $link );
exit( 0 );
