<?php
/**
 * Imports the sample products: wp eval-file import-products.php <products.json>
 *
 * Idempotent: a product whose SKU already exists is left alone, so a rerun creates nothing twice.
 * The last line it prints ("products: N created, M already present") is used in the Job's summary.
 */
if ( ! function_exists( 'wc_get_product_id_by_sku' ) ) {
	WP_CLI::error( 'WooCommerce is not active; cannot import products.' );
}

$products = json_decode( (string) file_get_contents( $args[0] ), true, 16, JSON_THROW_ON_ERROR );
$created  = 0;
$existing = 0;

foreach ( $products as $data ) {
	if ( wc_get_product_id_by_sku( $data['sku'] ) ) {
		++$existing;
		continue;
	}
	$category_ids = array();
	foreach ( $data['categories'] ?? array() as $category ) {
		$term = term_exists( $category, 'product_cat' );
		if ( ! $term ) {
			$term = wp_insert_term( $category, 'product_cat' );
		}
		if ( is_wp_error( $term ) ) {
			WP_CLI::error( $term );
		}
		$category_ids[] = (int) $term['term_id'];
	}
	$product = new WC_Product_Simple();
	$product->set_name( $data['name'] );
	$product->set_sku( $data['sku'] );
	$product->set_regular_price( (string) $data['regular_price'] );
	$product->set_description( $data['description'] ?? '' );
	$product->set_short_description( $data['short_description'] ?? '' );
	$product->set_category_ids( $category_ids );
	$product->set_status( 'publish' );
	$product->set_catalog_visibility( 'visible' );
	$product->set_stock_status( 'instock' );
	$product->save();
	++$created;
}

WP_CLI::log( sprintf( 'products: %d created, %d already present', $created, $existing ) );
